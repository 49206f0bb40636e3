package cfntemplate

import (
	"math/big"
	"net/netip"
)

// cidr evaluates Fn::Cidr [ipBlock, count, cidrBits]: count consecutive subnets with cidrBits
// host bits each, starting at the network address of ipBlock.
func (e *evaluator) cidr(arg any) (any, error) {
	l, ok := arg.([]any)
	if !ok || len(l) != 3 {
		return nil, errorf(msgCidr)
	}
	block, ok, err := e.evalString(l[0])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(msgCidr)
	}
	var nums [2]int64
	for i := range 2 {
		v, err := e.eval(l[i+1])
		if err != nil {
			return nil, err
		}
		n, ok := index(v)
		if !ok {
			return nil, errorf(msgCidr)
		}
		nums[i] = n
	}
	count, bits := nums[0], nums[1]
	prefix, err := netip.ParsePrefix(block)
	if err != nil {
		return nil, errorf("Template error: Fn::Cidr ipBlock %s is not a valid CIDR block", block)
	}
	prefix = prefix.Masked()
	width := int64(prefix.Addr().BitLen())
	if count < 1 || count > 256 || bits < 1 || bits > width-int64(prefix.Bits()) {
		return nil, errorf("Template error: Fn::Cidr cannot fit %d subnets with %d bits in %s", count, bits, block)
	}
	newBits := int(width - bits)
	// Subnets available: 2^(newBits - prefixBits).
	if avail := newBits - prefix.Bits(); avail < 9 && count > 1<<avail {
		return nil, errorf("Template error: Fn::Cidr cannot fit %d subnets with %d bits in %s", count, bits, block)
	}
	base := new(big.Int).SetBytes(prefix.Addr().AsSlice())
	out := make([]any, 0, count)
	for i := range count {
		n := new(big.Int).Add(base, new(big.Int).Lsh(big.NewInt(i), uint(bits)))
		buf := n.FillBytes(make([]byte, width/8))
		addr, _ := netip.AddrFromSlice(buf)
		out = append(out, netip.PrefixFrom(addr, newBits).String())
	}
	return out, nil
}

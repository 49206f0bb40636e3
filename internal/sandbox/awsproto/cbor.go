package awsproto

import (
	"fmt"
	"math"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// decodeCBOR decodes an RPC v2 CBOR request body. An empty body, null or undefined is an empty
// input.
func decodeCBOR(body []byte) (o Object, e *Error) {
	if len(body) == 0 {
		return Object{}, nil
	}
	// smithy-go documents its CBOR codec as meant for its own client runtime only; a decoder
	// bug must still not take the sandbox down on hostile input.
	defer func() {
		if r := recover(); r != nil {
			o, e = nil, serializationError("invalid CBOR request body: %v", r)
		}
	}()
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, serializationError("invalid CBOR request body: %v", err)
	}
	switch v := v.(type) {
	case cbor.Map:
		return fromCBORMap(v)
	case *cbor.Nil, *cbor.Undefined:
		return Object{}, nil
	}
	return nil, serializationError("invalid CBOR request body: the top-level value must be a map, not %T", v)
}

func fromCBORMap(m cbor.Map) (Object, *Error) {
	o := make(Object, len(m))
	for k, e := range m {
		v, err := fromCBOR(e)
		if err != nil {
			return nil, err
		}
		o[k] = v
	}
	return o, nil
}

// fromCBOR converts a CBOR value into an Object value: integers to int64, floats to float64,
// tag 1 to time.Time, byte strings to []byte, null and undefined to nil.
func fromCBOR(v cbor.Value) (any, *Error) {
	switch v := v.(type) {
	case cbor.Map:
		return fromCBORMap(v)
	case cbor.List:
		out := make([]any, len(v))
		for i, e := range v {
			c, err := fromCBOR(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case cbor.String:
		return string(v), nil
	case cbor.Slice:
		return []byte(v), nil
	case cbor.Uint:
		if v > math.MaxInt64 {
			return nil, serializationError("CBOR integer %d overflows a 64-bit signed integer", uint64(v))
		}
		return int64(v), nil
	case cbor.NegInt:
		// NegInt(n) is -n, with NegInt(0) standing for -2^64.
		if v == 0 || v > 1<<63 {
			return nil, serializationError("CBOR negative integer overflows a 64-bit signed integer")
		}
		return -int64(v-1) - 1, nil
	case cbor.Float32:
		return float64(v), nil
	case cbor.Float64:
		return float64(v), nil
	case cbor.Bool:
		return bool(v), nil
	case *cbor.Nil, *cbor.Undefined:
		return nil, nil
	case *cbor.Tag:
		if v.ID != 1 {
			return nil, serializationError("unsupported CBOR tag %d", v.ID)
		}
		return cborTime(v.Value)
	}
	return nil, serializationError("unsupported CBOR value %T", v)
}

// cborTime decodes the content of an epoch-seconds tag (1).
func cborTime(v cbor.Value) (any, *Error) {
	var secs float64
	switch v := v.(type) {
	case cbor.Uint, cbor.NegInt:
		i, err := fromCBOR(v)
		if err != nil {
			return nil, err
		}
		return time.Unix(i.(int64), 0).UTC(), nil
	case cbor.Float32:
		secs = float64(v)
	case cbor.Float64:
		secs = float64(v)
	default:
		return nil, serializationError("CBOR timestamp must hold a number, not %T", v)
	}
	t, ok := epochTime(secs)
	if !ok {
		return nil, serializationError("CBOR timestamp %v is out of range", secs)
	}
	return t, nil
}

// toCBOR converts an encodable value into a CBOR value. Nil structure members are omitted.
func toCBOR(v any) cbor.Value {
	switch v := canonical(v).(type) {
	case nil:
		return &cbor.Nil{}
	case Object:
		m := make(cbor.Map, len(v))
		for k, e := range v {
			if e = canonical(e); e != nil {
				m[k] = toCBOR(e)
			}
		}
		return m
	case map[string]string:
		m := make(cbor.Map, len(v))
		for k, e := range v {
			m[k] = cbor.String(e)
		}
		return m
	case []any:
		l := make(cbor.List, len(v))
		for i, e := range v {
			l[i] = toCBOR(e)
		}
		return l
	case string:
		return cbor.String(v)
	case []byte:
		return cbor.Slice(v)
	case bool:
		return cbor.Bool(v)
	case int64:
		return cborInt(v)
	case float64:
		// The SDK reads integers into integer members only, but reads either into doubles, so
		// an integral double is sent as an integer to be accepted by both.
		if v == math.Trunc(v) && v >= math.MinInt64 && v < math.MaxInt64 {
			return cborInt(int64(v))
		}
		return cbor.Float64(v)
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(v.UnixMilli()) / 1e3)}
	default:
		return cbor.String(fmt.Sprint(v))
	}
}

func cborInt(i int64) cbor.Value {
	if i >= 0 {
		return cbor.Uint(i)
	}
	// -1-i cannot overflow for any negative int64.
	return cbor.NegInt(uint64(-1-i) + 1)
}

package gates_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
)

type tracedConn struct {
	net.Conn
	mu    sync.Mutex
	stack []byte
}

func (c *tracedConn) Close() error {
	c.mu.Lock()
	c.stack = debug.Stack()
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *tracedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		fmt.Printf("WRITE ERR %v after %d of %d\n", err, n, len(p))
	}
	return n, err
}

func (c *tracedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.mu.Lock()
		if c.stack != nil {
			fmt.Printf("READ ERR %v; closed by:\n%s\n", err, c.stack)
		}
		c.mu.Unlock()
	}
	return n, err
}

func TestZZDebug(t *testing.T) {
	e := newAlarmEnv(t)
	a := e.members[0]
	var many []string
	for i := range 230 {
		many = append(many, fmt.Sprintf("web-%03d", i))
	}
	e.put(t, a, many...)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &tracedConn{Conn: c}, nil
	}}
	e.mgmt.HTTPClient = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	cfg, _ := e.configFn(context.Background(), a, region)
	cw := cloudwatch.NewFromConfig(cfg)
	for i := range 300 {
		p := cloudwatch.NewDescribeAlarmsPaginator(cw, &cloudwatch.DescribeAlarmsInput{AlarmNamePrefix: aws.String("web-"), MaxRecords: aws.Int32(100)})
		for p.HasMorePages() {
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
				if i.Err != nil {
					fmt.Printf("WROTE REQUEST ERR %T %v\n", i.Err, i.Err)
				}
			}})
			if _, err := p.NextPage(ctx); err != nil {
				t.Fatalf("%d: %v", i, err)
			}
		}
	}
}

package sandbox_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/stackfleet/stackfleet/internal/sandbox"
)

// benchWorkers is the number of concurrent SDK clients in the benchmarks.
const benchWorkers = 64

// benchClient is a CloudFormation client with a connection pool sized for benchWorkers.
func benchClient(e *env) *cloudformation.Client {
	cfg := e.cfg.Copy()
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{
		MaxIdleConns: benchWorkers * 2, MaxIdleConnsPerHost: benchWorkers * 2, IdleConnTimeout: time.Minute,
	}}
	return cloudformation.NewFromConfig(cfg)
}

// createStacks creates n five-resource stacks named prefix-N with benchWorkers goroutines and
// waits, by polling DescribeStacks, until each is CREATE_COMPLETE.
func createStacks(tb testing.TB, c *cloudformation.Client, prefix string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWorkers)
	for range benchWorkers {
		wg.Go(func() {
			ctx := context.Background()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				name := prefix + "-" + strconv.FormatInt(i, 10)
				if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{
					StackName: &name, TemplateBody: aws.String(appTemplate), Parameters: envParam("bench"),
				}); err != nil {
					errs <- err
					return
				}
				for {
					out, err := c.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &name})
					if err != nil {
						errs <- err
						return
					}
					st := out.Stacks[0].StackStatus
					if st == cfntypes.StackStatusCreateComplete {
						break
					}
					if st != cfntypes.StackStatusCreateInProgress {
						errs <- fmt.Errorf("stack %s: %s", name, st)
						return
					}
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// BenchmarkCreateStackSDK measures CreateStack → CREATE_COMPLETE through the SDK over HTTP,
// with zero resource delay and benchWorkers concurrent clients.
func BenchmarkCreateStackSDK(b *testing.B) {
	e := start(b, sandbox.Options{Seed: 1})
	c := benchClient(e)
	const batch = 500
	round := 0
	t0 := time.Now()
	stacks := 0
	for b.Loop() {
		createStacks(b, c, "b"+strconv.Itoa(round), batch)
		round++
		stacks += batch
	}
	b.ReportMetric(float64(stacks)/time.Since(t0).Seconds(), "stacks/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkMemory10kStacks reports the memory a sandbox uses to hold 10,000 five-resource
// stacks: live heap after GC and the resident set of the process.
func BenchmarkMemory10kStacks(b *testing.B) {
	for b.Loop() {
		e := start(b, sandbox.Options{Seed: 1})
		createStacks(b, benchClient(e), "m", 10_000)
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
		if rss, ok := residentMB(); ok {
			b.ReportMetric(rss, "rss-MB")
		}
		runtime.KeepAlive(e)
		if err := e.sb.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(0, "ns/op")
}

// residentMB reads the resident set size of this process (Linux).
func residentMB() (float64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

// Command stackfleet deploys CloudFormation stacks across the accounts and regions of an AWS
// Organization. See `stackfleet --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/stackfleet/stackfleet/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

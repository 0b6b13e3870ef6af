// Command ststest runs the fake STS of package ststest as a process, for
// scripts (test/bench/sidecar-idle.sh) and manual runs. It prints its URL on
// the first line of stdout and serves until SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rolechain/rolechain/internal/ststest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	s := ststest.NewUnstarted()
	if err := s.Listen(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "ststest:", err)
		os.Exit(1)
	}
	defer s.Close()
	fmt.Println(s.URL)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
}

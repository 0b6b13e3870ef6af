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
	"time"

	"github.com/rolechain/rolechain/internal/ststest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	lifetime := flag.Duration("lifetime", 0, "lifetime of issued credentials whatever DurationSeconds asks (0: DurationSeconds; negative: already expired)")
	clockOffset := flag.Duration("clock-offset", 0, "run the server's clock this far ahead of the wall clock (negative: behind)")
	flag.Parse()
	s := ststest.NewUnstarted()
	s.SetLifetime(*lifetime)
	if *clockOffset != 0 {
		s.SetClock(func() time.Time { return time.Now().Add(*clockOffset) })
	}
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

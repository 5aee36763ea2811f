package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

func BenchmarkZZProf(b *testing.B) {
	args := strings.Fields(os.Getenv("ZZ_ARGS"))
	for range b.N {
		out, _ := os.Create("/tmp/zz-out.txt")
		if code := run(context.Background(), args, nil, out, os.Stderr, os.Getenv); code != 0 {
			b.Fatalf("exit %d", code)
		}
		out.Close()
	}
}

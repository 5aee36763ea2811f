package main

import (
	"context"
	"os"
	"testing"
)

func BenchmarkZZPlan(b *testing.B) {
	st := os.Getenv("ZZSTATE")
	args := []string{"plan", "-f", "/tmp/m1/customers.csv", "-state", st, "-no-color"}
	if os.Getenv("ZZJSON") != "" {
		args = append(args, "-json")
	}
	for range b.N {
		out, _ := os.Create("/tmp/m1/zz.out")
		if code := run(context.Background(), args, nil, out, os.Stderr, os.Getenv); code != 0 {
			b.Fatalf("exit %d", code)
		}
		out.Close()
	}
}

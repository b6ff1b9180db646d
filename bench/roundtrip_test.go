package main

import (
	"io"
	"net"
	"testing"
)

// TestTripCounterCountsTurns sends two writes before the first answer (one round trip, as a
// pipelined batch is) and one more after it: two round trips.
func TestTripCounterCountsTurns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 2)
		for range 2 {
			if _, err := io.ReadFull(c, buf[:2]); err != nil {
				return
			}
			if _, err := c.Write([]byte("ok")); err != nil {
				return
			}
		}
	}()
	tc, err := newTripCounter(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.close()
	c, err := net.Dial("tcp", tc.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answer := make([]byte, 2)
	for _, writes := range [][]string{{"a", "b"}, {"cd"}} {
		for _, w := range writes {
			if _, err := c.Write([]byte(w)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := io.ReadFull(c, answer); err != nil {
			t.Fatal(err)
		}
	}
	if got := tc.trips(); got != 2 {
		t.Errorf("round trips = %d, want 2", got)
	}
}

func TestSettingsAndNumbers(t *testing.T) {
	env, err := settings("GOGC=200, HASH_CONCURRENCY=3")
	if err != nil || len(env) != 2 || env["GOGC"] != "200" || env["HASH_CONCURRENCY"] != "3" {
		t.Errorf("settings = %v, %v", env, err)
	}
	if _, err := settings("GOGC"); err == nil {
		t.Error("settings(GOGC) without a value: no error")
	}
	sizes, err := wholeNumbers("-sizes", "1000000, 10000000")
	if err != nil || len(sizes) != 2 || sizes[1] != 10_000_000 {
		t.Errorf("wholeNumbers = %v, %v", sizes, err)
	}
	if _, err := wholeNumbers("-sizes", "0"); err == nil {
		t.Error("wholeNumbers(0): no error")
	}
}

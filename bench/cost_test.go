package main

import (
	"testing"
	"time"
)

func TestPerRegistration(t *testing.T) {
	before := pgCounters{commits: 100, tuples: 1000, walFPI: 5, blksHit: 90, blksRead: 0, statements: 10}
	after := pgCounters{commits: 244, tuples: 1800, walFPI: 15, blksHit: 180, blksRead: 10, statements: 752}
	u := procUsage{serverCPU: 50 * time.Millisecond, dbCPU: 80 * time.Millisecond}
	got, err := perRegistration(100, 444, before, after, u, 100*time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	want := cost{Registrations: 100, RoundTrips: 4.44, Commits: 1.44, RowsWritten: 8, FullPageImages: 0.1,
		RegapiCPUMS: 0.5, RegapiCPUNoHash: 0.4, PostgresCPUMS: 0.8, BufferHitRate: 0.9, Statements: 7.42}
	if got != want {
		t.Errorf("perRegistration = %+v\nwant %+v", got, want)
	}
	if _, err := perRegistration(0, 0, before, after, u, 0); err == nil {
		t.Error("perRegistration of no registration: no error")
	}
}

package main

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestPoolDefaultsApplyOnlyWhatTheURLLeavesUnset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url                      string
		conns                    int32
		statements, descriptions int
	}{
		{"postgres://localhost/regapi", defaultPoolConns, statementCacheCapacity, statementCacheCapacity},
		{"postgres://localhost/regapi?pool_max_conns=7&statement_cache_capacity=512&description_cache_capacity=0", 7, 512, 0},
		{"postgres://localhost/regapi?statement_cache_capacity=0", defaultPoolConns, 0, statementCacheCapacity},
	} {
		pcfg, err := pgxpool.ParseConfig(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		applyPoolDefaults(pcfg, tc.url)
		c := pcfg.ConnConfig
		if pcfg.MaxConns != tc.conns || c.StatementCacheCapacity != tc.statements || c.DescriptionCacheCapacity != tc.descriptions {
			t.Errorf("%s: pool of %d, statement cache %d, description cache %d; want %d, %d, %d", tc.url,
				pcfg.MaxConns, c.StatementCacheCapacity, c.DescriptionCacheCapacity, tc.conns, tc.statements, tc.descriptions)
		}
	}
}

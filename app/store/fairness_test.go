package store

import (
	"reflect"
	"testing"
)

func TestFairShares(t *testing.T) {
	tests := []struct {
		name   string
		counts []connCount
		limit  int
		want   map[int64]int
	}{
		{"burst and single", []connCount{{1, 10000}, {2, 1}}, 100, map[int64]int{1: 99, 2: 1}},
		{"equal", []connCount{{1, 500}, {2, 500}}, 100, map[int64]int{1: 50, 2: 50}},
		{"three uneven", []connCount{{1, 10}, {2, 1000}, {3, 1000}}, 100, map[int64]int{1: 10, 2: 45, 3: 45}},
		{"less than limit", []connCount{{1, 3}, {2, 4}}, 100, map[int64]int{1: 3, 2: 4}},
		{"more connections than slots", []connCount{{1, 5}, {2, 5}, {3, 5}}, 2, map[int64]int{1: 0, 2: 1, 3: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fairShares(tt.counts, tt.limit); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("fairShares = %v, want %v", got, tt.want)
			}
		})
	}
}

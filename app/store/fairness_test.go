package store

import (
	"context"
	"fmt"
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

func TestPendingInboxFair(t *testing.T) {
	st := openTest(t, t.TempDir())
	ctx := context.Background()
	var burst []string
	for i := range 300 {
		burst = append(burst, fmt.Sprint("a", i))
	}
	if _, err := st.AppendInbox(ctx, inboxRows(1, burst...)); err != nil {
		t.Fatal(err)
	}
	late := inboxRows(2, "b0")
	late[0].Timestamp = 999999 // newer than the whole burst
	if _, err := st.AppendInbox(ctx, late); err != nil {
		t.Fatal(err)
	}
	rows, err := st.PendingInboxFair(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 100 {
		t.Fatalf("%d rows, want a full batch of 100", len(rows))
	}
	var fromB int
	var lastA int64 = -1
	for _, r := range rows {
		if r.ConnectionID == 2 {
			fromB++
			continue
		}
		if r.Timestamp < lastA {
			t.Fatalf("connection 1's events out of order: %d after %d", r.Timestamp, lastA)
		}
		lastA = r.Timestamp
	}
	if fromB != 1 || lastA != 1000+98 { // 99 oldest: 1000..1098
		t.Fatalf("batch has %d of connection 2 and connection 1 up to %d; want 1 and the 99 oldest", fromB, lastA)
	}
	if conns, _ := st.pendingConnections(ctx); !reflect.DeepEqual(conns, []int64{1, 2}) {
		t.Fatalf("pendingConnections = %v", conns)
	}
}

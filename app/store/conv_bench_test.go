package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkConversations: the chat list of a connection with 100,000
// friends who each got five broadcasts (500,000 chat rows) and 2,000 of
// whom wrote.
func BenchmarkConversations(b *testing.B) {
	st, err := Open(b.TempDir(), Options{Synchronous: "OFF"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const friends = 100000
	var fs []*Friend
	for i := range friends {
		fs = append(fs, &Friend{ConnectionID: 1, UserID: fmt.Sprintf("U%032d", i), Following: true, Unanswered: i%50 == 0, LastMessageAt: int64(i)})
	}
	if err := st.Apply(ctx, func(tx *ApplyTx) error { return tx.SaveFriends(fs) }); err != nil {
		b.Fatal(err)
	}
	for bc := range 5 {
		var ms []ChatMessage
		for i := range friends {
			ms = append(ms, ChatMessage{ConnectionID: 1, SourceKey: fmt.Sprintf("bc:%d:%d", bc, i), UserID: fmt.Sprintf("U%032d", i), Direction: ChatOut, Via: "broadcast", Text: "Sale", Timestamp: time.Now().UnixMilli()})
		}
		if err := st.AddChatMessagesBulk(ctx, ms); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		cs, err := st.Conversations(ctx, 1, 200)
		if err != nil || len(cs) != 200 {
			b.Fatalf("%d, %v", len(cs), err)
		}
	}
}

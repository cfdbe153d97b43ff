package tasks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasks"
	"github.com/tributary-io/tributary/tasktype"
)

func key(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune(b)), 32)))
}

// Rotation re-seals every secret under the new key in one transaction; afterwards the old key
// can be dropped, and a start-up with only the old key is refused.
func TestRotateSecrets(t *testing.T) {
	ctx := context.Background()
	st := store.New(testenv.DB(t))
	old, _ := secrets.ParseKeyring("old:"+key('a'), "")
	if err := secrets.Verify(ctx, old, st.SecretChecks); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		cfg, err := tasktype.Decode(tasktype.HTTPCall, json.RawMessage(`{"url":"https://e.test","headers":[{"name":"X-Key","value":"v`+string(rune('0'+i))+`","secret":true},{"name":"X-Open","value":"o"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := tasktype.SealSecrets(cfg, old.Seal); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(cfg)
		now := time.Now()
		if err := st.Tasks.Insert(ctx, &store.Task{ID: uuid.New(), Type: tasktype.HTTPCall, Name: "t" + string(rune('0'+i)), Config: raw,
			Timezone: "UTC", Enabled: true, OverlapPolicy: "skip", MaxDurationSeconds: 60, MaxAttempts: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}

	sealed, _ := old.Seal("db-Secret")
	now := time.Now()
	if err := st.DBConnections.Insert(ctx, &store.DBConnection{ID: uuid.New(), Name: "warehouse", Type: "postgres", Host: "db", Port: 5432,
		Database: "d", Username: "u", Password: sealed, TLSMode: "require", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}

	// Without the old key the rotation cannot open the secrets, and changes nothing.
	onlyNew, _ := secrets.ParseKeyring("new:"+key('b'), "")
	if _, err := tasks.RotateSecrets(ctx, st, onlyNew); err == nil {
		t.Fatal("rotation without the old key should fail")
	}
	both, _ := secrets.ParseKeyring("old:"+key('a')+",new:"+key('b'), "new")
	n, err := tasks.RotateSecrets(ctx, st, both)
	if err != nil || n != 4 {
		t.Fatalf("rotated %d: %v", n, err)
	}
	conn, err := st.DBConnections.GetByName(ctx, "warehouse")
	if id, _ := secrets.KeyID(conn.Password); err != nil || id != "new" {
		t.Fatalf("the connection's password is sealed under %q (%v)", id, err)
	}
	if plain, err := both.Open(conn.Password); err != nil || plain != "db-Secret" {
		t.Fatalf("the connection's password: %q %v", plain, err)
	}
	if n, err := tasks.RotateSecrets(ctx, st, both); err != nil || n != 0 {
		t.Fatalf("a second rotation should change nothing: %d %v", n, err)
	}
	list, err := st.Tasks.List(ctx, store.TaskFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for i, task := range list {
		cfg, err := tasktype.DecodeStored(task.Type, task.Config)
		if err != nil {
			t.Fatal(err)
		}
		h := cfg.(*tasktype.HTTPCallConfig).Headers
		if !strings.HasPrefix(h[0].Value, "enc:v1:new:") || h[1].Value != "o" {
			t.Fatalf("task %s after rotation: %+v", task.Name, h)
		}
		if err := tasktype.OpenSecrets(cfg, onlyNew.Open); err != nil || h[0].Value != "v"+string(rune('0'+i)) {
			t.Fatalf("open with the new key alone: %q %v", h[0].Value, err)
		}
	}
	if err := secrets.Verify(ctx, onlyNew, st.SecretChecks); err != nil {
		t.Fatalf("after rotation the new key alone should start: %v", err)
	}
	if err := secrets.Verify(ctx, old, st.SecretChecks); err == nil {
		t.Fatal("after rotation the old key alone should be refused")
	}
}

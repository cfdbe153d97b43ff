package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/internal/slapdtest"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

type ldapFixture struct {
	t     *testing.T
	st    *store.Store
	keys  *secrets.Keyring
	srv   *slapdtest.Server
	task  *store.Task
	acts  *activities.DirectoryImports
	suite testsuite.WorkflowTestSuite
}

func newLDAPFixture(t *testing.T, opts slapdtest.Options) *ldapFixture {
	t.Helper()
	keys, _, err := secrets.NewRandomKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(testenv.DB(t))
	return &ldapFixture{t: t, st: st, keys: keys, srv: slapdtest.Start(t, opts), acts: &activities.DirectoryImports{Store: st, Keyring: keys, HeartbeatEvery: 10 * time.Millisecond,
		Metrics: metrics.New()}}
}

// configure stores the task's configuration (JSON, as the API would receive it), sealed.
func (f *ldapFixture) configure(raw map[string]any) {
	f.t.Helper()
	b, _ := json.Marshal(raw)
	cfg, err := tasktype.Decode(tasktype.LDAPImport, b)
	if err != nil {
		f.t.Fatalf("config: %v", err)
	}
	if err := tasktype.SealSecrets(cfg, f.keys.Seal); err != nil {
		f.t.Fatal(err)
	}
	sealed, _ := json.Marshal(cfg)
	ctx := context.Background()
	if f.task == nil {
		f.task = &store.Task{ID: uuid.New(), Type: tasktype.LDAPImport, Name: "directory " + f.t.Name(), Config: sealed,
			Timezone: "UTC", Enabled: true, OverlapPolicy: "skip", MaxDurationSeconds: 3600, MaxAttempts: 3,
			CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if err := f.st.Tasks.Insert(ctx, f.task); err != nil {
			f.t.Fatal(err)
		}
		return
	}
	f.task.Config = sealed
	if err := f.st.Tasks.Update(ctx, f.task); err != nil {
		f.t.Fatal(err)
	}
}

func (f *ldapFixture) baseConfig() map[string]any {
	return map[string]any{
		"preset": "openldap", "urls": []string{f.srv.URL}, "base_dn": slapdtest.Suffix,
		"bind_dn": slapdtest.ReaderDN, "bind_password": slapdtest.ReaderPW, "allow_plaintext_bind": true,
		"page_size": 40, "change_overlap_seconds": 0,
	}
}

func (f *ldapFixture) newRun() uuid.UUID {
	f.t.Helper()
	typ := tasktype.LDAPImport
	r := &store.Run{ID: uuid.New(), Kind: "task", TaskID: &f.task.ID, TaskType: &typ, Trigger: "manual", Status: "running",
		StartedAt: time.Now(), WorkflowID: "task-type/ldap_import", Counts: map[string]int64{}, Details: json.RawMessage(`{}`)}
	if err := f.st.Runs.RecordStart(context.Background(), r); err != nil {
		f.t.Fatal(err)
	}
	return r.ID
}

// run executes the activity for runID and returns its counts and the recorded details.
func (f *ldapFixture) run(runID uuid.UUID) (map[string]int64, activities.DirectoryImportDetails, error) {
	f.t.Helper()
	return execTask[activities.DirectoryImportDetails](f.t, f.st, f.acts, f.acts.ImportDirectory, runID, f.task.ID)
}

func (f *ldapFixture) mustRun(runID uuid.UUID) (map[string]int64, activities.DirectoryImportDetails) {
	f.t.Helper()
	c, d, err := f.run(runID)
	if err != nil {
		f.t.Fatalf("import: %v", err)
	}
	return c, d
}

func wantCounts(t *testing.T, got map[string]int64, want map[string]int64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("count %s = %d, want %d (all counts: %v)", k, got[k], v, got)
		}
	}
}

func (f *ldapFixture) scalar(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.st.DB.NewRaw(query, args...).Scan(context.Background(), &n); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestDirectoryImportFullIncrementalAndDeletions(t *testing.T) {
	f := newLDAPFixture(t, slapdtest.Options{SizeLimit: 50, LDIF: slapdtest.WriteDirectory(slapdtest.DirectorySpec{
		Users: 120, Groups: 10, MembersPerGroup: 15, Computers: 20, NestedGroups: true})})
	f.configure(f.baseConfig())

	// 1. Full import, past the server's size limit of 50 in pages of 40.
	first := f.newRun()
	counts, det := f.mustRun(first)
	if det.Mode != "full" || det.Server != f.srv.URL {
		t.Fatalf("details: %+v", det)
	}
	wantCounts(t, counts, map[string]int64{"users_created": 120, "groups_created": 10, "computers_created": 20, "users_removed": 0, "users_skipped": 0})
	// Entries read, by kind, reach the worker's metrics.
	if err := testutil.GatherAndCompare(f.acts.Metrics.Gatherer(), strings.NewReader(`
# HELP tributary_ldap_entries_total Directory entries read by the LDAP imports, by kind (user, group, computer) and outcome (mapped, skipped).
# TYPE tributary_ldap_entries_total counter
tributary_ldap_entries_total{kind="computer",outcome="mapped"} 20
tributary_ldap_entries_total{kind="computer",outcome="skipped"} 0
tributary_ldap_entries_total{kind="group",outcome="mapped"} 10
tributary_ldap_entries_total{kind="group",outcome="skipped"} 0
tributary_ldap_entries_total{kind="user",outcome="mapped"} 120
tributary_ldap_entries_total{kind="user",outcome="skipped"} 0
`), "tributary_ldap_entries_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(f.acts.Metrics.Gatherer(), "tributary_ldap_pages_total"); err != nil || n != 3 {
		t.Fatalf("ldap pages: %d series, %v", n, err)
	}
	if n := f.scalar("SELECT count(*) FROM directory_members m JOIN directory_objects g ON g.id = m.group_id WHERE g.name = 'group00000' AND m.member_id IS NOT NULL"); n != 16 {
		t.Fatalf("group00000 has %d resolved members, want 15 users and 1 nested group", n)
	}
	if n := f.scalar("SELECT count(*) FROM directory_members m JOIN directory_objects x ON x.id = m.member_id WHERE x.kind = 'group'"); n != 1 {
		t.Fatalf("%d nested group links, want 1", n)
	}
	if n := f.scalar("SELECT count(*) FROM assets WHERE status = 'active' AND identity_key LIKE 'host:host%' AND cardinality(ip_addresses) = 1"); n != 20 {
		t.Fatalf("%d assets from computers, want 20", n)
	}

	// 2. The same run retried (a worker crashed after the import, before reporting) leaves
	// the same rows and reports the same counts.
	again, _ := f.mustRun(first)
	wantCounts(t, again, map[string]int64{"users_created": 120, "groups_created": 10, "computers_created": 20, "users_updated": 0, "users_unchanged": 0})
	if n := f.scalar("SELECT count(*) FROM directory_objects"); n != 150 {
		t.Fatalf("%d objects after a retry, want 150", n)
	}

	// 3. Changes in the directory; an incremental import reads only what changed.
	admin := f.srv.Admin(t)
	mod := ldap.NewModifyRequest(slapdtest.UserDN(5), nil)
	mod.Replace("mail", []string{"changed@example.com"})
	must(t, admin.Modify(mod))
	must(t, slapdtest.AddUser(admin, "newbie", "New Bie", "newbie@example.com"))
	must(t, admin.Del(ldap.NewDelRequest(slapdtest.UserDN(7), nil)))
	gm := ldap.NewModifyRequest(slapdtest.GroupDN(1), nil)
	gm.Delete("member", []string{slapdtest.UserDN(15)})
	must(t, admin.Modify(gm))

	counts, det = f.mustRun(f.newRun())
	if det.Mode != "incremental" || det.ChangedSince == nil {
		t.Fatalf("second run: %+v", det)
	}
	wantCounts(t, counts, map[string]int64{"users_created": 1, "users_updated": 1, "groups_updated": 1, "users_removed": 0, "computers_created": 0})
	if n := f.scalar("SELECT count(*) FROM directory_objects WHERE email = 'changed@example.com'"); n != 1 {
		t.Fatal("the changed mail was not imported")
	}
	if n := f.scalar("SELECT count(*) FROM directory_members m JOIN directory_objects g ON g.id = m.group_id WHERE g.name = 'group00001'"); n != 14 {
		t.Fatalf("group00001 has %d members after losing one, want 14", n)
	}
	if n := f.scalar("SELECT count(*) FROM directory_objects WHERE username = 'user000007' AND status = 'active'"); n != 1 {
		t.Fatal("an incremental import cannot see deletions; user000007 should still be active")
	}

	// 4. A full import detects the deletion.
	cfg := f.baseConfig()
	cfg["full_import_every_hours"] = 0
	f.configure(cfg)
	counts, det = f.mustRun(f.newRun())
	if det.Mode != "full" {
		t.Fatalf("third run: %+v", det)
	}
	wantCounts(t, counts, map[string]int64{"users_removed": 1, "users_created": 0, "users_unchanged": 120, "groups_unchanged": 10})
	if n := f.scalar("SELECT count(*) FROM directory_objects WHERE username = 'user000007' AND status = 'removed'"); n != 1 {
		t.Fatal("user000007 was not marked removed")
	}
	if n := f.scalar("SELECT count(*) FROM directory_members WHERE member_dn_norm = ? AND member_id IS NOT NULL", strings.ToLower(slapdtest.UserDN(7))); n != 0 {
		t.Fatal("a removed user still resolves as a group member")
	}

	// 5. A filter that suddenly matches nothing must not wipe the users.
	cfg["users"] = map[string]any{"filter": "(objectClass=nothingLikeThis)"}
	f.configure(cfg)
	_, _, err := f.run(f.newRun())
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != activities.ErrTypeRemovalGuard || !ae.NonRetryable() ||
		!strings.Contains(err.Error(), "returned no users, but 120 are imported") {
		t.Fatalf("empty result: got %v", err)
	}
	if n := f.scalar("SELECT count(*) FROM directory_objects WHERE kind = 'user' AND status = 'active'"); n != 120 {
		t.Fatalf("%d active users after the refused sweep, want 120", n)
	}

	// 6. Nor may a full import remove more than max_removal_percent at once.
	cfg["users"] = map[string]any{"filter": "(&(objectClass=inetOrgPerson)(!(uid=user00001*)))"}
	cfg["max_removal_percent"] = 5
	f.configure(cfg)
	_, _, err = f.run(f.newRun())
	if err == nil || !strings.Contains(err.Error(), "would remove 10 of 120 active users") {
		t.Fatalf("mass removal: got %v", err)
	}
}

func TestDirectoryImportOverStartTLSAndFailures(t *testing.T) {
	f := newLDAPFixture(t, slapdtest.Options{TLS: true, LDIF: slapdtest.WriteDirectory(slapdtest.DirectorySpec{Users: 5, Groups: 1, MembersPerGroup: 5})})
	cfg := f.baseConfig()
	delete(cfg, "allow_plaintext_bind")
	cfg["start_tls"] = true
	cfg["ca_certificate"] = f.srv.CAPEM
	cfg["computers"] = map[string]any{"enabled": false}
	f.configure(cfg)
	counts, _ := f.mustRun(f.newRun())
	wantCounts(t, counts, map[string]int64{"users_created": 5, "groups_created": 1})
	if _, ok := counts["computers_created"]; ok {
		t.Fatalf("a disabled kind has counts: %v", counts)
	}

	cases := []struct {
		name      string
		change    func(map[string]any)
		retryable bool
		want      string
	}{
		{"bad password", func(c map[string]any) { c["bind_password"] = "not-the-password" }, false, "invalid credentials"},
		{"no CA", func(c map[string]any) { delete(c, "ca_certificate") }, false, "not signed by a trusted CA"},
		{"missing base DN", func(c map[string]any) { c["base_dn"] = "ou=gone," + slapdtest.Suffix }, false, `"ou=gone,dc=example,dc=com" does not exist`},
		{"unreachable", func(c map[string]any) { c["urls"] = []string{"ldap://127.0.0.1:1"} }, true, "cannot connect"},
	}
	for _, tc := range cases {
		c := f.baseConfig()
		delete(c, "allow_plaintext_bind")
		c["start_tls"], c["ca_certificate"] = true, f.srv.CAPEM
		tc.change(c)
		f.configure(c)
		_, det, err := f.run(f.newRun())
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) || ae.NonRetryable() == tc.retryable || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v (retryable %v), want %q", tc.name, err, ae != nil && !ae.NonRetryable(), tc.want)
		}
		if strings.Contains(err.Error(), "not-the-password") || strings.Contains(err.Error(), slapdtest.ReaderPW) {
			t.Errorf("%s: the error shows a password", tc.name)
		}
		b, _ := json.Marshal(det)
		if strings.Contains(string(b), slapdtest.ReaderPW) {
			t.Errorf("%s: run details show the password", tc.name)
		}
	}
	if n := f.scalar("SELECT count(*) FROM directory_objects WHERE status = 'active'"); n != 6 {
		t.Fatalf("failed runs changed what was imported: %d active objects, want 6", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

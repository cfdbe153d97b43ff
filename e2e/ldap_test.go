package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/slapdtest"
)

// An LDAP import task configured through the API imports from a real slapd over StartTLS on
// the worker; users, groups with members, computers and assets are readable through the API,
// and the bind password never shows.
func TestLDAPImportThroughAPI(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{TLS: true, SizeLimit: 30, LDIF: slapdtest.WriteDirectory(slapdtest.DirectorySpec{
		Users: 75, Groups: 4, MembersPerGroup: 10, Computers: 6, NestedGroups: true})})
	s := newStack(t, stackOptions{})
	config := map[string]any{
		"preset": "openldap", "urls": []string{srv.URL}, "start_tls": true, "ca_certificate": srv.CAPEM,
		"base_dn": slapdtest.Suffix, "bind_dn": slapdtest.ReaderDN, "bind_password": slapdtest.ReaderPW, "page_size": 20,
	}
	var task taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "ldap_import", "name": "corp directory", "config": config, "max_attempts": 1}, &task)
	if strings.Contains(fmt.Sprint(task.Config), slapdtest.ReaderPW) || task.Config["bind_password_set"] != true {
		t.Fatalf("task config: %v", task.Config)
	}
	if task.Config["users"].(map[string]any)["identity_attribute"] != "entryUUID" {
		t.Fatalf("the preset did not fill the users search: %v", task.Config["users"])
	}

	var probe struct {
		OK        bool   `json:"ok"`
		ErrorKind string `json:"error_kind"`
		Message   string `json:"message"`
		BaseDNs   []struct {
			BaseDN string `json:"base_dn"`
			Exists bool   `json:"exists"`
		} `json:"base_dns"`
	}
	s.must(http.StatusOK, "POST", "/api/v1/tasks/"+task.ID+"/test-connection", nil, &probe)
	if !probe.OK || len(probe.BaseDNs) != 1 || !probe.BaseDNs[0].Exists {
		t.Fatalf("test-connection: %+v", probe)
	}

	var tr triggered
	s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", map[string]any{"trigger": "manual"}, &tr)
	if tr.WorkflowID != "task-type/ldap_import" {
		t.Fatalf("workflow ID %q", tr.WorkflowID)
	}
	run := s.waitRun(tr.RunID, 60*time.Second)
	if run.Status != "succeeded" || run.Counts["users_created"] != 75 || run.Counts["groups_created"] != 4 ||
		run.Counts["computers_created"] != 6 || run.Details["mode"] != "full" {
		t.Fatalf("run: %+v", run)
	}

	type page struct {
		Items []struct {
			ID          string   `json:"id"`
			Name        string   `json:"name"`
			Username    string   `json:"username"`
			Email       string   `json:"email"`
			MemberCount int      `json:"member_count"`
			Kind        string   `json:"kind"`
			DN          string   `json:"dn"`
			Hostname    string   `json:"hostname"`
			IPAddresses []string `json:"ip_addresses"`
			Sources     []string `json:"sources"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	// Keyset pagination walks every user exactly once.
	seen := map[string]bool{}
	cursor := ""
	for i := 0; ; i++ {
		var p page
		s.must(http.StatusOK, "GET", "/api/v1/directory/users?task_id="+task.ID+"&limit=20&cursor="+url.QueryEscape(cursor), nil, &p)
		for _, u := range p.Items {
			if seen[u.ID] {
				t.Fatalf("user %s listed twice", u.Username)
			}
			seen[u.ID] = true
		}
		if cursor = p.NextCursor; cursor == "" || i > 10 {
			break
		}
	}
	if len(seen) != 75 {
		t.Fatalf("listed %d users, want 75", len(seen))
	}
	var users page
	s.must(http.StatusOK, "GET", "/api/v1/directory/users?q=user000042", nil, &users)
	if len(users.Items) != 1 || users.Items[0].Email != "user000042@example.com" {
		t.Fatalf("search: %+v", users)
	}
	var groups page
	s.must(http.StatusOK, "GET", "/api/v1/directory/groups?status=active", nil, &groups)
	if len(groups.Items) != 4 || groups.Items[0].Name != "group00000" || groups.Items[0].MemberCount != 11 {
		t.Fatalf("groups: %+v", groups)
	}
	var members page
	s.must(http.StatusOK, "GET", "/api/v1/directory/groups/"+groups.Items[0].ID+"/members?limit=200", nil, &members)
	kinds := map[string]int{}
	for _, m := range members.Items {
		kinds[m.Kind]++
	}
	if kinds["user"] != 10 || kinds["group"] != 1 || len(members.Items) != 11 {
		t.Fatalf("members of group00000: %v", kinds)
	}
	var assets page
	s.must(http.StatusOK, "GET", "/api/v1/assets?q=host0000", nil, &assets)
	if len(assets.Items) != 6 || assets.Items[0].Hostname != "host00000" || len(assets.Items[0].Sources) != 1 || assets.Items[0].Sources[0] != "ldap:active" {
		t.Fatalf("assets: %+v", assets)
	}
	s.must(http.StatusBadRequest, "GET", "/api/v1/directory/users?status=gone", nil, nil)
	s.must(http.StatusBadRequest, "GET", "/api/v1/directory/users?cursor=bm9wZQ", nil, nil)
	s.must(http.StatusNotFound, "GET", "/api/v1/directory/groups/"+mustParse(run.ID).String(), nil, nil)

	// The bind password reaches neither Temporal nor the logs nor the database in plain text.
	assertHistoryFree(t, s, tr.WorkflowID, tr.WorkflowRunID, slapdtest.ReaderPW)
	if logs := s.workerLog.String() + s.apiLog.String(); strings.Contains(logs, slapdtest.ReaderPW) {
		t.Fatal("logs show the bind password")
	}
	var n int
	if err := s.store.DB.NewRaw("SELECT count(*) FROM integration_tasks WHERE config::text LIKE ?", "%"+slapdtest.ReaderPW+"%").Scan(context.Background(), &n); err != nil || n != 0 {
		t.Fatalf("the bind password is stored in plain text (%d rows, %v)", n, err)
	}

	// test-connection tells bad credentials, TLS failures and unreachable servers apart. An
	// update without bind_password keeps the stored one.
	for _, tc := range []struct {
		change func(map[string]any)
		kind   string
	}{
		{func(c map[string]any) { c["bind_password"] = "wrong" }, "bad_credentials"},
		{func(c map[string]any) { delete(c, "ca_certificate") }, "tls"},
		{func(c map[string]any) { c["urls"] = []string{"ldap://127.0.0.1:1"} }, "unreachable"},
		{func(c map[string]any) {
			c["base_dn"], c["bind_password"] = "ou=missing,"+slapdtest.Suffix, slapdtest.ReaderPW
		}, "no_such_object"},
		{func(c map[string]any) {}, ""},
	} {
		c := map[string]any{}
		for k, v := range config {
			if k != "bind_password" {
				c[k] = v
			}
		}
		tc.change(c)
		s.must(http.StatusOK, "PUT", "/api/v1/tasks/"+task.ID, map[string]any{"type": "ldap_import", "name": "corp directory", "config": c, "max_attempts": 1}, nil)
		probe.OK, probe.ErrorKind = false, ""
		s.must(http.StatusOK, "POST", "/api/v1/tasks/"+task.ID+"/test-connection", nil, &probe)
		if probe.ErrorKind != tc.kind || probe.OK != (tc.kind == "") || strings.Contains(probe.Message, slapdtest.ReaderPW) {
			t.Errorf("want %q: got %+v", tc.kind, probe)
		}
	}

	// Bad configuration is refused with the field named.
	bad := map[string]any{"preset": "openldap", "urls": []string{"http://dc1", "ldap://dc1"}, "base_dn": "not a dn",
		"users": map[string]any{"filter": "(uid=*"}, "bind_dn": "cn=x", "bind_password": "p"}
	r := s.must(http.StatusBadRequest, "POST", "/api/v1/tasks", map[string]any{"type": "ldap_import", "name": "bad", "config": bad}, nil)
	for _, want := range []string{"config.urls[0]", "config.base_dn", "config.users.filter", "config.start_tls"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("validation error lacks %s: %s", want, r.body)
		}
	}
	var httpTask taskView
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "http_call", "name": "ping", "config": map[string]any{"url": "http://127.0.0.1:1/"}}, &httpTask)
	s.must(http.StatusBadRequest, "POST", "/api/v1/tasks/"+httpTask.ID+"/test-connection", nil, nil)
}

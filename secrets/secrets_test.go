package secrets

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func key(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune(b)), 32)))
}

func TestSealOpen(t *testing.T) {
	k, err := ParseKeyring("k1:"+key('a'), "")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := k.Seal("hunter2")
	b, _ := k.Seal("hunter2")
	if a == b || strings.Contains(a, "hunter2") || !strings.HasPrefix(a, "enc:v1:k1:") {
		t.Fatalf("sealed %q and %q", a, b)
	}
	if p, err := k.Open(a); err != nil || p != "hunter2" {
		t.Fatalf("open: %q %v", p, err)
	}
	if s, _ := k.Seal(""); s != "" {
		t.Fatal("the empty string should stay empty")
	}
	tampered := a[:len(a)-2] + "AA"
	if _, err := k.Open(tampered); err == nil {
		t.Fatal("a tampered value opened")
	}
	other, _ := ParseKeyring("k1:"+key('b'), "k1")
	if _, err := other.Open(a); err == nil || !strings.Contains(err.Error(), "wrong key") {
		t.Fatalf("wrong key: %v", err)
	}
	k2, _ := ParseKeyring("k2:"+key('a'), "k2")
	if _, err := k2.Open(a); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := k.Open("plain"); err == nil {
		t.Fatal("an unsealed value opened")
	}
}

func TestParseKeyringErrors(t *testing.T) {
	for spec, active := range map[string]string{
		"":                                   "",
		"k1":                                 "",
		"k1:notbase64!":                      "",
		"k1:" + key('a')[:10]:                "",
		"k1:" + key('a') + ",k2:" + key('b'): "",
		"k1:" + key('a') + ",k1:" + key('b'): "k1",
		"k1:" + key('a'):                     "k9",
	} {
		if _, err := ParseKeyring(spec, active); err == nil {
			t.Errorf("ParseKeyring(%q, %q) should fail", spec, active)
		} else if strings.Contains(err.Error(), key('a')) {
			t.Errorf("the error shows the key: %v", err)
		}
	}
}

type memChecks map[string]string

func (m memChecks) CheckValues(context.Context) (map[string]string, error) { return m, nil }
func (m memChecks) AddCheckValue(_ context.Context, id, sealed string) error {
	m[id] = sealed
	return nil
}

func TestVerifyRefusesWrongOrMissingKeys(t *testing.T) {
	ctx := context.Background()
	checks := memChecks{}
	good, _ := ParseKeyring("k1:"+key('a'), "")
	if err := Verify(ctx, good, checks); err != nil || checks["k1"] == "" {
		t.Fatalf("first start: %v %v", err, checks)
	}
	stored := checks["k1"]
	wrong, _ := ParseKeyring("k1:"+key('b'), "")
	if err := Verify(ctx, wrong, checks); err == nil || !strings.Contains(err.Error(), `key "k1" is not the key`) {
		t.Fatalf("wrong key: %v", err)
	}
	missing, _ := ParseKeyring("k2:"+key('b'), "")
	if err := Verify(ctx, missing, checks); err == nil || !strings.Contains(err.Error(), `key "k1", which is not configured`) {
		t.Fatalf("missing key: %v", err)
	}
	if checks["k1"] != stored || checks["k2"] != "" {
		t.Fatalf("a refused start wrote check values: %v", checks)
	}
	both, _ := ParseKeyring("k1:"+key('a')+",k2:"+key('b'), "k2")
	if err := Verify(ctx, both, checks); err != nil || checks["k2"] == "" {
		t.Fatalf("adding a key: %v", err)
	}
}

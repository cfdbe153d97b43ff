package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/config"
	"github.com/tributary-io/tributary/secrets"
)

func baseEnv(t *testing.T) {
	t.Helper()
	_, spec, err := secrets.NewRandomKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", "postgres://localhost/tributary")
	t.Setenv("TRIBUTARY_SECRET_KEYS", spec)
}

// Upload limits: defaults, values from the environment, and refused values named.
func TestUploadSettings(t *testing.T) {
	baseEnv(t)
	c, err := config.FromEnv()
	if err != nil || c.MaxUploadBytes != 1<<30 || c.UploadTimeout != time.Hour {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	t.Setenv("MAX_UPLOAD_BYTES", "5242880")
	t.Setenv("UPLOAD_TIMEOUT", "10m")
	if c, err = config.FromEnv(); err != nil || c.MaxUploadBytes != 5<<20 || c.UploadTimeout != 10*time.Minute {
		t.Fatalf("set: %+v %v", c, err)
	}
	for name, bad := range map[string]string{"MAX_UPLOAD_BYTES": "12", "UPLOAD_TIMEOUT": "soon"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, bad)
			if _, err := config.FromEnv(); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("%s=%s: %v", name, bad, err)
			}
		})
	}
}

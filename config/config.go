// Package config reads the settings shared by Tributary's binaries from the environment.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/secrets"
)

// DefaultTaskQueue is the Temporal task queue of the worker.
const DefaultTaskQueue = "tributary"

// Config holds the settings of the API server, the worker and the migrate command.
type Config struct {
	// DatabaseURL is the Postgres URL (DATABASE_URL). Required.
	DatabaseURL string
	// TemporalAddress is the Temporal frontend host:port (TEMPORAL_ADDRESS). Defaults to 127.0.0.1:7233.
	TemporalAddress string
	// TemporalNamespace is the Temporal namespace (TEMPORAL_NAMESPACE). Defaults to "default".
	TemporalNamespace string
	// TaskQueue is the worker's task queue (TEMPORAL_TASK_QUEUE). Defaults to "tributary".
	TaskQueue string
	// TemporalUIURL is the base URL of the Temporal Web UI, used for links in run details
	// (TEMPORAL_UI_URL). Defaults to http://127.0.0.1:8233.
	TemporalUIURL string
	// HTTPAddr is the API server's listen address (HTTP_ADDR). Defaults to 127.0.0.1:8080.
	HTTPAddr string
	// RunRetention is how long run history is kept (RUN_RETENTION_DAYS, whole days; 0 keeps
	// it forever). Defaults to 0. Workers remove older ended runs hourly, in batches.
	RunRetention time.Duration
	// WorkerMetricsAddr is where the worker serves GET /metrics (WORKER_METRICS_ADDR; "off"
	// for nowhere). Defaults to 127.0.0.1:9464.
	WorkerMetricsAddr string
	// HeartbeatTimeout is how long a task activity may go silent before Temporal retries it on
	// another worker (ACTIVITY_HEARTBEAT_TIMEOUT, a Go duration). Defaults to 30s.
	HeartbeatTimeout time.Duration
	// Keyring holds the secret encryption keys (TRIBUTARY_SECRET_KEYS="id:base64key,…") and the
	// active one (TRIBUTARY_SECRET_KEY_ID; optional with a single key). Required.
	Keyring *secrets.Keyring
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed
	// (TRUSTED_PROXIES, comma-separated IPs or CIDRs). Defaults to none.
	TrustedProxies []string
	// LogLevel is debug, info, warn or error (LOG_LEVEL). Defaults to info.
	LogLevel slog.Level
	// MaxUploadBytes caps a file uploaded for the XML imports (MAX_UPLOAD_BYTES). Defaults to
	// 1 GiB.
	MaxUploadBytes int64
	// UploadTimeout bounds the reading of one upload (UPLOAD_TIMEOUT, a Go duration). Defaults
	// to 1h.
	UploadTimeout time.Duration
	// XMLDropDir is the worker's drop directory for XML imports with a drop_glob
	// (XML_DROP_DIR). Optional; without it such tasks fail with a clear message. It must be
	// an existing directory.
	XMLDropDir string
	// ReportingDatabaseURL is Tributary's database as the tributary_reporting role, which saved
	// queries and scripts run as (REPORTING_DATABASE_URL). Optional; without it user SQL is
	// refused. See the README, "Data out".
	ReportingDatabaseURL string
}

// FromEnv reads the configuration from the environment.
func FromEnv() (Config, error) {
	c := Config{
		DatabaseURL:       os.Getenv("DATABASE_URL"),
		TemporalAddress:   env("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace: env("TEMPORAL_NAMESPACE", "default"),
		TaskQueue:         env("TEMPORAL_TASK_QUEUE", DefaultTaskQueue),
		TemporalUIURL:     strings.TrimRight(env("TEMPORAL_UI_URL", "http://127.0.0.1:8233"), "/"),
		HTTPAddr:          env("HTTP_ADDR", "127.0.0.1:8080"),
		WorkerMetricsAddr: env("WORKER_METRICS_ADDR", "127.0.0.1:9464"),
	}
	if c.WorkerMetricsAddr == "off" {
		c.WorkerMetricsAddr = ""
	}
	hb, err := time.ParseDuration(env("ACTIVITY_HEARTBEAT_TIMEOUT", "30s"))
	if err != nil || hb < time.Second {
		return c, fmt.Errorf("ACTIVITY_HEARTBEAT_TIMEOUT must be a duration of at least 1s, such as 30s")
	}
	c.HeartbeatTimeout = hb
	days, err := strconv.Atoi(env("RUN_RETENTION_DAYS", "0"))
	if err != nil || days < 0 || days > 36500 {
		return c, fmt.Errorf("RUN_RETENTION_DAYS must be a whole number of days (0 keeps run history forever)")
	}
	c.RunRetention = time.Duration(days) * 24 * time.Hour
	if c.MaxUploadBytes, err = strconv.ParseInt(env("MAX_UPLOAD_BYTES", "1073741824"), 10, 64); err != nil || c.MaxUploadBytes < 1<<20 {
		return c, fmt.Errorf("MAX_UPLOAD_BYTES must be a number of bytes of at least 1048576 (1 MiB)")
	}
	if c.UploadTimeout, err = time.ParseDuration(env("UPLOAD_TIMEOUT", "1h")); err != nil || c.UploadTimeout < time.Minute {
		return c, fmt.Errorf("UPLOAD_TIMEOUT must be a duration of at least 1m, such as 1h")
	}
	c.ReportingDatabaseURL = os.Getenv("REPORTING_DATABASE_URL")
	if c.XMLDropDir = os.Getenv("XML_DROP_DIR"); c.XMLDropDir != "" {
		if fi, err := os.Stat(c.XMLDropDir); err != nil || !fi.IsDir() {
			return c, fmt.Errorf("XML_DROP_DIR must be an existing directory (%q is not)", c.XMLDropDir)
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(env("LOG_LEVEL", "info"))); err != nil {
		return c, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error")
	}
	if c.DatabaseURL == "" {
		return c, fmt.Errorf("DATABASE_URL is required (a postgres:// URL)")
	}
	k, err := secrets.ParseKeyring(os.Getenv("TRIBUTARY_SECRET_KEYS"), os.Getenv("TRIBUTARY_SECRET_KEY_ID"))
	if err != nil {
		return c, err
	}
	c.Keyring = k
	for _, p := range strings.Split(os.Getenv("TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}
	return c, nil
}

// Logger returns a JSON logger at the configured level.
func (c Config) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: c.LogLevel}))
}

func env(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

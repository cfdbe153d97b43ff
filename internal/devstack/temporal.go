// Package devstack starts the parts of a development stack that production runs elsewhere:
// a throwaway PostgreSQL cluster and an embedded Temporal dev server with its Web UI. Only the
// tributary-dev command imports it; the production binaries never link the Temporal server.
package devstack

// The embedded server follows temporalio/cli's internal/devserver (MIT licence).

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// TemporalOptions configures StartTemporal.
type TemporalOptions struct {
	// IP to listen on. Optional; defaults to 127.0.0.1.
	IP string
	// FrontendPort is the gRPC port of the frontend. Optional; defaults to 7233.
	FrontendPort int
	// UIPort is the Web UI's port; 0 picks 8233, -1 disables the UI.
	UIPort int
	// Namespace to create. Optional; defaults to "default".
	Namespace string
	// SearchAttributes are registered on the namespace at creation.
	SearchAttributes map[string]enumspb.IndexedValueType
	// DatabaseFile keeps Temporal's state in a SQLite file (WAL mode) across restarts.
	// Optional; empty keeps it in memory.
	DatabaseFile string
	// LogLevel of the server's own log (debug, info, warn, error). Optional; defaults to warn.
	LogLevel string
}

// Temporal is a running embedded Temporal server.
type Temporal struct {
	server       temporal.Server
	ui           *uiserver.Server
	FrontendAddr string
	UIURL        string
	Namespace    string
}

// StartTemporal starts the server (and the UI) and returns once the frontend accepts calls.
func StartTemporal(o TemporalOptions) (*Temporal, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.FrontendPort == 0 {
		o.FrontendPort = 7233
	}
	if o.UIPort == 0 {
		o.UIPort = 8233
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	for _, p := range []int{o.FrontendPort, o.UIPort} {
		if p > 0 {
			if err := portFree(o.IP, p); err != nil {
				return nil, err
			}
		}
	}
	const clusterName = "active"
	httpPort, err := freePort(o.IP)
	if err != nil {
		return nil, err
	}
	frontend := net.JoinHostPort(o.IP, strconv.Itoa(o.FrontendPort))

	sqlConf := config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DatabaseFile == "" {
		sqlConf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		sqlConf.DatabaseName = uuid.NewString()
	} else {
		sqlConf.ConnectAttributes = map[string]string{"mode": "rwc", "_journal_mode": "WAL", "_synchronous": "NORMAL"}
		sqlConf.DatabaseName = o.DatabaseFile
		if _, err := os.Stat(o.DatabaseFile); errors.Is(err, fs.ErrNotExist) {
			if err := sqliteschema.SetupSchema(&sqlConf); err != nil {
				return nil, fmt.Errorf("set up Temporal's SQLite schema in %s: %w", o.DatabaseFile, err)
			}
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(&sqlConf, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", o.Namespace, err)
	}

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.IP
	conf.Persistence.DefaultStore = "sqlite-default"
	conf.Persistence.VisibilityStore = "sqlite-default"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: &sqlConf}}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend,
			HTTPAddress: net.JoinHostPort(o.IP, strconv.Itoa(httpPort)), ClusterID: uuid.NewString(),
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for _, svc := range []primitives.ServiceName{primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		var s config.Service
		s.RPC.BindOnIP = o.IP
		if svc == primitives.FrontendService {
			s.RPC.GRPCPort, s.RPC.HTTPPort = o.FrontendPort, httpPort
		} else if s.RPC.GRPCPort, err = freePort(o.IP); err != nil {
			return nil, err
		}
		conf.Services[string(svc)] = s
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(o.IP, strconv.Itoa(s.RPC.GRPCPort)))
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontend

	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: o.LogLevel, Format: "console", Stdout: false}))
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(&conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("build Temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start Temporal server: %w", err)
	}
	t := &Temporal{server: srv, FrontendAddr: frontend, Namespace: o.Namespace}
	if o.UIPort > 0 {
		t.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host: o.IP, Port: o.UIPort, TemporalGRPCAddress: frontend, EnableUI: true,
			CORS: uiconfig.CORS{CookieInsecure: true}, HideLogs: true, DisableNewsFetch: true,
			DefaultNamespace: o.Namespace,
		}))
		uiErr := make(chan error, 1)
		go func() { uiErr <- t.ui.Start() }()
		if err := waitListening(net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort)), uiErr); err != nil {
			srv.Stop()
			return nil, fmt.Errorf("start Temporal UI: %w", err)
		}
		t.UIURL = fmt.Sprintf("http://%s", net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort)))
	}
	return t, nil
}

// Stop stops the UI and the server.
func (t *Temporal) Stop() {
	if t.ui != nil {
		t.ui.Stop()
	}
	t.server.Stop()
}

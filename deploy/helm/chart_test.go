package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// manifest is one rendered object.
type manifest struct {
	Source string // the template it came from
	Hook   bool   // rendered as a Helm hook
	Kind   string
	Name   string
	JSON   []byte
	Obj    map[string]any
}

// render renders the chart as `helm template` does: client only, as an install into a
// cluster of the given Kubernetes version, with the values files and overrides given.
func render(t *testing.T, kubeVersion string, files []string, set map[string]any) ([]manifest, error) {
	t.Helper()
	ch, err := loader.Load("tributary")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	for _, f := range files {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			t.Fatal(err)
		}
		vals = chartutil.CoalesceTables(v.AsMap(), vals)
	}
	vals = chartutil.CoalesceTables(set, vals)
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace = "tributary", "security"
	in.KubeVersion = kv
	rel, err := in.Run(ch, vals)
	if err != nil {
		return nil, err
	}
	var out []manifest
	add := func(text string, hook bool) {
		docs := releaseutil.SplitManifests(text)
		for _, k := range slices.Sorted(maps.Keys(docs)) {
			doc := docs[k]
			src := ""
			if _, rest, ok := strings.Cut(doc, "# Source: "); ok {
				src, _, _ = strings.Cut(rest, "\n")
			}
			j, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s is not YAML: %v\n%s", src, err, doc)
			}
			if string(j) == "null" {
				continue
			}
			m := manifest{Source: src, Hook: hook, JSON: j}
			if err := json.Unmarshal(j, &m.Obj); err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			m.Kind, _ = m.Obj["kind"].(string)
			if md, ok := m.Obj["metadata"].(map[string]any); ok {
				m.Name, _ = md["name"].(string)
			}
			out = append(out, m)
		}
	}
	add(rel.Manifest, false)
	for _, h := range rel.Hooks {
		add(h.Manifest, true)
	}
	return out, nil
}

var valueSets = []struct {
	name  string
	files []string
	set   map[string]any
}{
	{"default values", nil, nil},
	{"values-production.yaml", []string{"tributary/values-production.yaml"}, nil},
}

// TestChartManifestsAreValid renders the chart for the default values and the
// production-like values file, for the oldest and newest Kubernetes release the chart
// supports, and validates every manifest against that release's schemas; then checks what a
// schema cannot: that the objects fit together.
func TestChartManifestsAreValid(t *testing.T) {
	for _, kr := range kubeReleases {
		ks := schemasFor(t, kr)
		for _, vs := range valueSets {
			t.Run(kr.Version+"/"+vs.name, func(t *testing.T) {
				ms, err := render(t, kr.Version, vs.files, vs.set)
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				kinds := map[string]int{}
				for _, m := range ms {
					kinds[m.Kind]++
					if err := ks.validate(m.Obj); err != nil {
						t.Errorf("%s %s (%s) is not a valid Kubernetes %s object:\n%v", m.Kind, m.Name, m.Source, kr.Version, err)
					}
				}
				checkObjects(t, vs.name, ms)
				t.Logf("%d manifests valid against Kubernetes %s: %v", len(ms), kr.Version, kinds)
			})
		}
	}
}

// decodeStrict decodes a manifest into its typed Kubernetes object, refusing unknown fields.
func decodeStrict(t *testing.T, m manifest, into any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(m.JSON))
	d.DisallowUnknownFields()
	if err := d.Decode(into); err != nil {
		t.Fatalf("%s %s: %v", m.Kind, m.Name, err)
	}
}

// checkObjects checks the rendered objects against each other and against Tributary's needs.
func checkObjects(t *testing.T, values string, ms []manifest) {
	pods := map[string]corev1.PodTemplateSpec{} // by workload name
	deployments := map[string]appsv1.Deployment{}
	byKind := map[string][]manifest{}
	for _, m := range ms {
		byKind[m.Kind] = append(byKind[m.Kind], m)
		for _, msg := range validation.IsDNS1123Subdomain(m.Name) {
			t.Errorf("%s name %q: %s", m.Kind, m.Name, msg)
		}
		switch m.Kind {
		case "Deployment":
			var d appsv1.Deployment
			decodeStrict(t, m, &d)
			deployments[d.Name] = d
			pods[d.Name] = d.Spec.Template
			sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("Deployment %s: its selector %v does not select its own pods %v", d.Name, sel, d.Spec.Template.Labels)
			}
		case "Job":
			var j batchv1.Job
			decodeStrict(t, m, &j)
			pods[j.Name] = j.Spec.Template
			hooks := j.Annotations["helm.sh/hook"]
			if !m.Hook || !strings.Contains(hooks, "pre-install") || !strings.Contains(hooks, "pre-upgrade") {
				t.Errorf("Job %s must run before an install and an upgrade, as a Helm hook (helm.sh/hook %q)", j.Name, hooks)
			}
			if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever && j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
				t.Errorf("Job %s restart policy %q", j.Name, j.Spec.Template.Spec.RestartPolicy)
			}
		}
	}
	for _, want := range []string{"Deployment", "Service", "PodDisruptionBudget", "Job", "ServiceAccount"} {
		if len(byKind[want]) == 0 {
			t.Errorf("%s: no %s rendered", values, want)
		}
	}
	if len(deployments) != 2 {
		t.Errorf("want the API server's and the worker's Deployments, got %v", slices.Collect(maps.Keys(deployments)))
	}

	for name, p := range pods {
		for _, c := range p.Spec.Containers {
			ports := map[string]bool{}
			for _, cp := range c.Ports {
				ports[cp.Name] = true
				for _, msg := range validation.IsValidPortName(cp.Name) {
					t.Errorf("%s/%s port name %q: %s", name, c.Name, cp.Name, msg)
				}
			}
			checkEnv(t, name, c)
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s/%s: want CPU and memory requests and a memory limit, got %v", name, c.Name, c.Resources)
			}
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s/%s: want a read-only root filesystem and no privilege escalation", name, c.Name)
			}
			if _, job := deployments[name]; !job {
				continue
			}
			for what, pr := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if pr == nil || pr.HTTPGet == nil {
					t.Errorf("%s/%s: no HTTP %s probe", name, c.Name, what)
					continue
				}
				if !ports[pr.HTTPGet.Port.String()] {
					t.Errorf("%s/%s: the %s probe names port %q, which the container does not declare", name, c.Name, what, pr.HTTPGet.Port.String())
				}
				if !slices.Contains([]string{"/healthz", "/readyz"}, pr.HTTPGet.Path) {
					t.Errorf("%s/%s: the %s probe asks %s, not one of the health endpoints", name, c.Name, what, pr.HTTPGet.Path)
				}
			}
		}
	}

	// Every Service and PodDisruptionBudget selects the pods of exactly one Deployment, by a
	// port the pods declare; an HPA scales a rendered Deployment that leaves replicas to it.
	selects := func(kind, name string, sel labels.Selector) string {
		var hit []string
		for dn, d := range deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				hit = append(hit, dn)
			}
		}
		if len(hit) != 1 {
			t.Errorf("%s %s selects the pods of %v, want exactly one Deployment", kind, name, hit)
			return ""
		}
		return hit[0]
	}
	for _, m := range byKind["Service"] {
		var s corev1.Service
		decodeStrict(t, m, &s)
		dn := selects("Service", s.Name, labels.SelectorFromSet(s.Spec.Selector))
		if dn == "" {
			continue
		}
		for _, sp := range s.Spec.Ports {
			found := false
			for _, c := range deployments[dn].Spec.Template.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.Name == sp.TargetPort.String() || fmt.Sprint(cp.ContainerPort) == sp.TargetPort.String()
				}
			}
			if !found {
				t.Errorf("Service %s targets port %s, which %s does not declare", s.Name, sp.TargetPort.String(), dn)
			}
		}
		for _, msg := range validation.IsDNS1035Label(s.Name) {
			t.Errorf("Service name %q: %s", s.Name, msg)
		}
	}
	for _, m := range byKind["PodDisruptionBudget"] {
		var p policyv1.PodDisruptionBudget
		decodeStrict(t, m, &p)
		selects("PodDisruptionBudget", p.Name, labels.SelectorFromSet(p.Spec.Selector.MatchLabels))
	}
	for _, m := range byKind["HorizontalPodAutoscaler"] {
		var h autoscalingv2.HorizontalPodAutoscaler
		decodeStrict(t, m, &h)
		d, ok := deployments[h.Spec.ScaleTargetRef.Name]
		if !ok || h.Spec.ScaleTargetRef.Kind != "Deployment" {
			t.Errorf("HPA %s scales %s %s, which is not rendered", h.Name, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
		} else if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas although HPA %s scales it: each upgrade would reset the scale", d.Name, h.Name)
		}
	}
}

// secretEnv are the variables that hold secrets: they must come from a Secret, never a value.
var secretEnv = []string{"DATABASE_URL", "REPORTING_DATABASE_URL", "TRIBUTARY_SECRET_KEYS"}

func checkEnv(t *testing.T, pod string, c corev1.Container) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range c.Env {
		if seen[e.Name] {
			t.Errorf("%s/%s: %s is set twice", pod, c.Name, e.Name)
		}
		seen[e.Name] = true
		if slices.Contains(secretEnv, e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s/%s: %s must come from a Secret (secretKeyRef), not a value", pod, c.Name, e.Name)
		}
	}
	for _, need := range []string{"DATABASE_URL", "TRIBUTARY_SECRET_KEYS", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"} {
		if !seen[need] {
			t.Errorf("%s/%s: %s is not set", pod, c.Name, need)
		}
	}
}

// TestChartValuesRefused: values that cannot work are refused when rendering, with a message
// that names the value, rather than rendered into manifests that fail in the cluster.
func TestChartValuesRefused(t *testing.T) {
	cases := []struct {
		name string
		set  string
		want string
	}{
		{"temporal address without a port", `{"temporal": {"address": "temporal.svc"}}`, "/temporal/address"},
		{"unknown value (a typo)", `{"api": {"replicas": 3}}`, "replicas"},
		{"log level", `{"config": {"logLevel": "verbose"}}`, "logLevel"},
		{"no database secret", `{"database": {"existingSecret": ""}}`, "existingSecret"},
		{"secret name not a DNS name", `{"secretKeys": {"existingSecret": "My_Secret"}}`, "existingSecret"},
		{"retention as text", `{"config": {"runRetentionDays": "ninety"}}`, "runRetentionDays"},
		{"PDB that blocks every drain", `{"api": {"replicaCount": 1}}`, "api.podDisruptionBudget.minAvailable"},
		{"autoscaling bounds", `{"worker": {"autoscaling": {"enabled": true, "minReplicas": 5, "maxReplicas": 3}}}`, "minReplicas"},
		{"port out of range", `{"worker": {"metricsPort": 70000}}`, "metricsPort"},
		{"ingress without host", `{"api": {"ingress": {"enabled": true, "host": ""}}}`, "api.ingress.host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var set map[string]any
			if err := json.Unmarshal([]byte(c.set), &set); err != nil {
				t.Fatal(err)
			}
			_, err := render(t, kubeReleases[len(kubeReleases)-1].Version, nil, set)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error naming %q, got %v", c.want, err)
			}
		})
	}
}

// TestSchemaValidatorCatchesMistakes keeps the validation honest: manifests with the mistakes
// it exists for are refused, with the field named.
func TestSchemaValidatorCatchesMistakes(t *testing.T) {
	ks := schemasFor(t, kubeReleases[len(kubeReleases)-1])
	good := `{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
	  "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
	  "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}],
	  "resources": {"requests": {"cpu": 1, "memory": "1Gi"}}, "livenessProbe": {"httpGet": {"path": "/", "port": "http"}}}]}}}}`
	var obj map[string]any
	if err := json.Unmarshal([]byte(good), &obj); err != nil {
		t.Fatal(err)
	}
	if err := ks.validate(obj); err != nil {
		t.Fatalf("a valid Deployment is refused: %v", err)
	}
	cases := []struct {
		name, from, to, want string
	}{
		{"misspelled field", `"replicas": 2`, `"replica": 2`, "replica"},
		{"wrong type", `"replicas": 2`, `"replicas": "two"`, "replicas"},
		{"container without a name", `"name": "c", `, ``, "name"},
		{"port as text", `"containerPort": 80`, `"containerPort": "eighty"`, "containerPort"},
		{"unknown kind", `"kind": "Deployment"`, `"kind": "Deploymnet"`, "Deploymnet"},
		{"API the release does not serve", `"apiVersion": "apps/v1"`, `"apiVersion": "apps/v1beta2"`, "apps/v1beta2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(good, c.from, c.to, 1)
			if bad == good {
				t.Fatal("the case changes nothing")
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(bad), &obj); err != nil {
				t.Fatal(err)
			}
			err := ks.validate(obj)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error naming %q, got %v", c.want, err)
			}
		})
	}
}

// TestChartProductionValues checks what the production-like values file asks for is in the
// manifests: pinned image, reporting URL, HPA instead of fixed worker replicas, the drop share.
func TestChartProductionValues(t *testing.T) {
	ms, err := render(t, kubeReleases[len(kubeReleases)-1].Version, []string{"tributary/values-production.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := map[string]string{}
	for _, m := range ms {
		text[m.Kind+"/"+m.Name] += string(m.JSON)
	}
	keys := slices.Sorted(maps.Keys(text))
	want := map[string][]string{
		"Deployment/tributary-worker":              {`"XML_DROP_DIR"`, `"claimName":"tributary-xml-drop"`, `registry.example.internal/security/tributary:0.1.0`, `"REPORTING_DATABASE_URL"`},
		"Deployment/tributary-api":                 {`"TRUSTED_PROXIES"`, `"value":"10.0.0.0/8"`, `"RUN_RETENTION_DAYS","value":"180"`},
		"HorizontalPodAutoscaler/tributary-worker": {`"maxReplicas":8`},
		"Ingress/tributary-api":                    {`"secretName":"tributary-tls"`},
		"PodDisruptionBudget/tributary-worker":     {`"minAvailable":"50%"`},
	}
	for obj, subs := range want {
		body, ok := text[obj]
		if !ok {
			t.Errorf("%s not rendered (have %v)", obj, keys)
			continue
		}
		for _, s := range subs {
			if !strings.Contains(body, s) {
				t.Errorf("%s lacks %s", obj, s)
			}
		}
	}
	if strings.Contains(text["Deployment/tributary-worker"], `"replicas"`) {
		t.Error("the autoscaled worker Deployment sets replicas")
	}
	t.Logf("rendered %v", keys)
}

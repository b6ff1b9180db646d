// Package deploy_test renders the Helm chart in helm/regapi with Helm's own library, as
// `helm install` would, and checks the objects without a cluster: every rendered object is
// decoded strictly into its Kubernetes API type (an unknown or misplaced field fails), and
// then what matters to regapi is checked: probes, the migration hook, secrets only by
// reference, the shutdown timing, replicas, the security context.
package deploy_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const chartDir = "helm/regapi"

// minKubeVersion is the oldest Kubernetes the chart declares (Chart.yaml's kubeVersion);
// rendering for it proves the objects need nothing newer.
const minKubeVersion = "v1.30.0"

// secretVars are the settings that are secrets: they come only from the existing Secret.
var secretVars = []string{"DATABASE_URL", "CODE_SECRET", "CODE_SECRET_PREVIOUS", "SMTP_URL", "WEBHOOK_SECRET", "EVENTS_WEBHOOK_SECRET"}

// object is one rendered Kubernetes object, decoded into its API type.
type object struct {
	kind, name string
	hook       *release.Hook // nil for an ordinary object
	typed      any
}

// rendered is a chart rendered for one set of values.
type rendered struct {
	objects []object
	text    string // every manifest, hooks included
}

func (r rendered) find(kind, name string) (object, bool) {
	for _, o := range r.objects {
		if o.kind == kind && o.name == name {
			return o, true
		}
	}
	return object{}, false
}

func (r rendered) must(t *testing.T, kind, name string) any {
	t.Helper()
	o, ok := r.find(kind, name)
	if !ok {
		t.Fatalf("no %s %q rendered; have %v", kind, name, r.names())
	}
	return o.typed
}

func (r rendered) names() []string {
	var out []string
	for _, o := range r.objects {
		out = append(out, o.kind+"/"+o.name)
	}
	return out
}

// loadValues reads a values file.
func loadValues(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]any
	if err := yaml.Unmarshal(b, &vals); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return vals
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// render renders the chart as `helm install --dry-run=client` does (the values checked
// against values.schema.json first), or returns the error.
func render(t *testing.T, vals map[string]any) (rendered, error) {
	t.Helper()
	install := action.NewInstall(action.NewConfiguration())
	install.DryRunStrategy = action.DryRunClient
	install.Replace = true
	install.ReleaseName = "regapi"
	install.Namespace = "identity"
	kv, err := common.ParseKubeVersion(minKubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	install.KubeVersion = kv
	r, err := install.Run(loadChart(t), vals)
	if err != nil {
		return rendered{}, err
	}
	rel, ok := r.(*release.Release)
	if !ok {
		t.Fatalf("release of type %T", r)
	}
	out := rendered{text: rel.Manifest}
	out.objects = decodeAll(t, rel.Manifest, nil)
	for _, h := range rel.Hooks {
		out.text += "\n---\n" + h.Manifest
		out.objects = append(out.objects, decodeAll(t, h.Manifest, h)...)
	}
	return out, nil
}

func mustRender(t *testing.T, vals map[string]any) rendered {
	t.Helper()
	r, err := render(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// types are the API types the chart may render, by apiVersion and kind.
var types = map[string]func() any{
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"batch/v1/Job":                            func() any { return new(batchv1.Job) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeAll decodes every document of manifest strictly into its API type.
func decodeAll(t *testing.T, manifest string, hook *release.Hook) []object {
	t.Helper()
	var out []object
	for _, doc := range docSeparator.Split(manifest, -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("a rendered document is not YAML: %v\n%s", err, doc)
		}
		key := head.APIVersion + "/" + head.Kind
		newType, ok := types[key]
		if !ok {
			t.Fatalf("rendered %s %q: a kind this test does not know", key, head.Metadata.Name)
		}
		typed := newType()
		// Strict: a field the API type does not have, or one given twice, fails.
		if err := yaml.UnmarshalStrict([]byte(doc), typed); err != nil {
			t.Fatalf("%s %q does not decode strictly into its API type: %v\n%s", key, head.Metadata.Name, err, doc)
		}
		for _, msg := range validation.IsDNS1123Subdomain(head.Metadata.Name) {
			t.Errorf("%s name %q: %s", head.Kind, head.Metadata.Name, msg)
		}
		checkLabels(t, head.Kind+" "+head.Metadata.Name, head.Metadata.Labels)
		out = append(out, object{kind: head.Kind, name: head.Metadata.Name, hook: hook, typed: typed})
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func checkLabels(t *testing.T, what string, l map[string]string) {
	t.Helper()
	for k, v := range l {
		for _, msg := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label key %q: %s", what, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %s=%q: %s", what, k, v, msg)
		}
	}
}

// podSpecs returns every pod template of r, by the object that holds it.
func (r rendered) podSpecs() map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for _, o := range r.objects {
		switch v := o.typed.(type) {
		case *appsv1.Deployment:
			out["Deployment/"+o.name] = v.Spec.Template
		case *batchv1.Job:
			out["Job/"+o.name] = v.Spec.Template
		}
	}
	return out
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}

// checkCommon checks what every rendering must hold, whatever the values.
func checkCommon(t *testing.T, r rendered, secretName string, secretKeys map[string]string) {
	t.Helper()
	for _, o := range r.objects {
		if o.kind == "Secret" || o.kind == "ConfigMap" {
			t.Errorf("the chart rendered a %s (%s): secrets come from an existing Secret only", o.kind, o.name)
		}
	}
	for where, pod := range r.podSpecs() {
		spec := pod.Spec
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: the pod is not runAsNonRoot", where)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: the service account token is mounted; regapi calls no Kubernetes API", where)
		}
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", where, len(spec.Containers))
		}
		c := spec.Containers[0]
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: container security context %+v: want a read-only root, no privilege escalation, every capability dropped", where, sc)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: memory request and limit must be set: %+v", where, c.Resources)
		}
		// Secrets: by reference to the existing Secret, never a value.
		env := envOf(c)
		for _, name := range secretVars {
			e, ok := env[name]
			if !ok {
				t.Errorf("%s: %s not passed from the Secret", where, name)
				continue
			}
			ref := e.ValueFrom
			if e.Value != "" || ref == nil || ref.SecretKeyRef == nil {
				t.Errorf("%s: %s is not a secretKeyRef: %+v", where, name, e)
				continue
			}
			if ref.SecretKeyRef.Name != secretName || ref.SecretKeyRef.Key != secretKeys[name] {
				t.Errorf("%s: %s from secret %q key %q, want %q key %q", where, name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key, secretName, secretKeys[name])
			}
			required := name == "DATABASE_URL" || name == "CODE_SECRET"
			if optional := ref.SecretKeyRef.Optional != nil && *ref.SecretKeyRef.Optional; optional == required {
				t.Errorf("%s: %s optional=%v, want %v", where, name, optional, !required)
			}
		}
		if len(c.EnvFrom) > 0 {
			t.Errorf("%s: envFrom would pass whatever a Secret or ConfigMap holds", where)
		}
	}
}

// secretKeysOf returns the Secret's key of each secret variable for vals.
func secretKeysOf(vals map[string]any) map[string]string {
	keys := map[string]string{}
	for _, name := range secretVars {
		keys[name] = name
	}
	if s, ok := vals["secrets"].(map[string]any); ok {
		if k, ok := s["keys"].(map[string]any); ok {
			for name, key := range k {
				keys[name] = key.(string)
			}
		}
	}
	return keys
}

// replicas prints a Deployment's replicas, or "unset".
func replicas(d *appsv1.Deployment) string {
	if d.Spec.Replicas == nil {
		return "unset"
	}
	return strconv.Itoa(int(*d.Spec.Replicas))
}

func apiContainer(t *testing.T, r rendered, name string) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := r.must(t, "Deployment", name).(*appsv1.Deployment)
	return d, d.Spec.Template.Spec.Containers[0]
}

// checkAPI checks the API Deployment, its Service and probes, for the port and the
// preStop sleep given.
func checkAPI(t *testing.T, r rendered, port int32, preStop int64) {
	t.Helper()
	d, c := apiContainer(t, r, "regapi")
	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("api args %v, want [serve]", c.Args)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != port {
		t.Errorf("api ports %+v, want http on %d", c.Ports, port)
	}
	if got := envOf(c)["HTTP_ADDR"].Value; got != fmt.Sprintf(":%d", port) {
		t.Errorf("HTTP_ADDR %q, want :%d", got, port)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe missing or not HTTP: %+v", p.name, p.probe)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe on %s port %s, want %s on the http port", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
		if p.probe.TimeoutSeconds < 2 {
			t.Errorf("%s probe timeout %ds: /readyz may take its 1 s database bound", p.name, p.probe.TimeoutSeconds)
		}
	}
	// Shutdown: preStop sleeps while the endpoints forget the pod, then regapi drains
	// (SHUTDOWN_DRAIN, at most 2 s) and exits within 10 s of SIGTERM: the grace period,
	// counted from the deletion, must hold both.
	var sleep int64
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		sleep = c.Lifecycle.PreStop.Sleep.Seconds
	}
	if sleep != preStop {
		t.Errorf("preStop sleep %ds, want %d", sleep, preStop)
	}
	grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || *grace < sleep+10 {
		t.Errorf("terminationGracePeriodSeconds %v, want at least preStop %d + 10", grace, sleep)
	}
	drain := 2.0 // regapi's default and its maximum
	if v := envOf(c)["SHUTDOWN_DRAIN"].Value; v != "" {
		var err error
		if drain, err = strconv.ParseFloat(strings.TrimSuffix(v, "s"), 64); err != nil {
			t.Fatalf("SHUTDOWN_DRAIN %q: %v", v, err)
		}
	}
	if float64(*grace) <= float64(sleep)+drain {
		t.Errorf("grace period %ds is not longer than preStop + drain (%ds + %gs)", *grace, sleep, drain)
	}
	if d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v: want maxUnavailable 0, so capacity never drops", d.Spec.Strategy.RollingUpdate)
	}

	// The Service, PodDisruptionBudget and ServiceMonitor select the API's pods and only them.
	pods := labels.Set(d.Spec.Template.Labels)
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(pods) {
		t.Errorf("the Deployment's selector does not match its pods: %v", err)
	}
	svc := r.must(t, "Service", "regapi").(*corev1.Service)
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(pods) {
		t.Errorf("the Service does not select the API pods")
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v, want one to the http port", svc.Spec.Ports)
	}
	for where, pod := range r.podSpecs() {
		if where != "Deployment/regapi" && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			t.Errorf("the Service selects the pods of %s", where)
		}
	}
	if o, ok := r.find("PodDisruptionBudget", "regapi"); ok {
		pdb := o.typed.(*policyv1.PodDisruptionBudget)
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(pods) {
			t.Errorf("the API's PodDisruptionBudget does not select its pods: %v", err)
		}
	} else {
		t.Errorf("no PodDisruptionBudget for the API")
	}
}

// checkMigrations checks the migration Job: a pre-install and pre-upgrade hook running
// `regapi migrate up` once, with the settings of the API.
func checkMigrations(t *testing.T, r rendered) {
	t.Helper()
	o, ok := r.find("Job", "regapi-migrate")
	if !ok {
		t.Fatalf("no migration Job; have %v", r.names())
	}
	if o.hook == nil {
		t.Fatalf("the migration Job is not a hook: it would run alongside the new pods")
	}
	var events []string
	for _, e := range o.hook.Events {
		events = append(events, string(e))
	}
	if !slices.Contains(events, "pre-install") || !slices.Contains(events, "pre-upgrade") || len(events) != 2 {
		t.Errorf("migration hook events %v, want pre-install and pre-upgrade", events)
	}
	job := o.typed.(*batchv1.Job)
	c := job.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"migrate", "up"}) {
		t.Errorf("migration args %v, want [migrate up]", c.Args)
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never (the Job's backoff retries while the database is not there)", job.Spec.Template.Spec.RestartPolicy)
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit < 1 || job.Spec.ActiveDeadlineSeconds == nil {
		t.Errorf("the Job must retry (backoffLimit) within a deadline: %v, %v", job.Spec.BackoffLimit, job.Spec.ActiveDeadlineSeconds)
	}
	// The hook runs before the release's other objects exist: it may use none of them.
	for _, sa := range r.objects {
		if sa.kind == "ServiceAccount" && sa.hook == nil && job.Spec.Template.Spec.ServiceAccountName == sa.name {
			t.Errorf("the hook runs as ServiceAccount %s, which the release creates only after it", sa.name)
		}
	}
	for _, v := range job.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && strings.HasPrefix(v.ConfigMap.Name, "regapi") && !strings.HasPrefix(v.ConfigMap.Name, "regapi-emails") {
			t.Errorf("the hook mounts ConfigMap %s of the release, which does not exist yet at install", v.ConfigMap.Name)
		}
	}
	// The same settings as the API (minus the HTTP ones), so that a bad one fails here, before the pods roll.
	_, api := apiContainer(t, r, "regapi")
	apiEnv, jobEnv := envOf(api), envOf(c)
	for name, e := range apiEnv {
		if name == "HTTP_ADDR" || name == "HASH_CONCURRENCY" || strings.HasPrefix(name, "RATE_LIMIT") {
			continue
		}
		if je, ok := jobEnv[name]; !ok || je.Value != e.Value {
			t.Errorf("migration Job's %s = %+v, API's %+v", name, jobEnv[name], e)
		}
	}
}

func TestDefaultValues(t *testing.T) {
	t.Parallel()
	vals := loadValues(t, filepath.Join(chartDir, "values.yaml"))
	r := mustRender(t, map[string]any{})
	checkCommon(t, r, "regapi", secretKeysOf(vals))
	checkAPI(t, r, 8080, 5)
	checkMigrations(t, r)

	want := []string{"Deployment/regapi", "Job/regapi-migrate", "PodDisruptionBudget/regapi", "Service/regapi", "ServiceAccount/regapi"}
	got := r.names()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}
	d, c := apiContainer(t, r, "regapi")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("api replicas %s, want 2", replicas(d))
	}
	// Sizing (values.yaml, from BENCHMARKS.md): one hash slot per CPU of the limit, and
	// memory for them: ~100 MiB of base and 19 MiB of argon2id memory per slot.
	hc, err := strconv.Atoi(envOf(c)["HASH_CONCURRENCY"].Value)
	if err != nil {
		t.Fatalf("HASH_CONCURRENCY: %v", err)
	}
	if cpu := c.Resources.Limits.Cpu(); int64(hc) != cpu.Value() {
		t.Errorf("HASH_CONCURRENCY %d, want the CPU limit %s", hc, cpu)
	}
	need := resource.MustParse(fmt.Sprintf("%dMi", 100+19*hc))
	if c.Resources.Limits.Memory().Cmp(need) < 0 {
		t.Errorf("memory limit %s below %s for %d hash slots", c.Resources.Limits.Memory(), &need, hc)
	}
	if _, ok := envOf(c)["EMAIL_TEMPLATES_DIR"]; ok {
		t.Errorf("EMAIL_TEMPLATES_DIR set without templates")
	}
}

func TestFullValues(t *testing.T) {
	t.Parallel()
	vals := loadValues(t, "testdata/full-values.yaml")
	r := mustRender(t, vals)
	checkCommon(t, r, "regapi-production", secretKeysOf(vals))
	checkAPI(t, r, 9090, 8)
	checkMigrations(t, r)

	want := []string{"Deployment/regapi", "Deployment/regapi-worker", "HorizontalPodAutoscaler/regapi",
		"Job/regapi-migrate", "PodDisruptionBudget/regapi", "PodDisruptionBudget/regapi-worker",
		"Service/regapi", "ServiceAccount/regapi", "ServiceMonitor/regapi"}
	got := r.names()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("objects %v, want %v", got, want)
	}

	d, c := apiContainer(t, r, "regapi")
	if d.Spec.Replicas != nil {
		t.Errorf("api replicas %d set while the autoscaler decides", *d.Spec.Replicas)
	}
	hpa := r.must(t, "HorizontalPodAutoscaler", "regapi").(*autoscalingv2.HorizontalPodAutoscaler)
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != "regapi" ||
		*hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas != 30 || len(hpa.Spec.Metrics) != 1 ||
		hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		*hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 65 {
		t.Errorf("autoscaler %+v: want the API Deployment, 3 to 30 replicas, on CPU at 65 %%", hpa.Spec)
	}
	if c.Image != "registry.example.com/regapi@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
		t.Errorf("image %q, want the digest", c.Image)
	}
	env := envOf(c)
	for name, want := range map[string]string{
		"HASH_CONCURRENCY": "3", "RATE_LIMIT_PER_MINUTE": "120", "ACTIVATION_MAX_ATTEMPTS": "5",
		"MAIL_PROVIDER": "smtp", "EMAIL_TEMPLATES_DIR": "/etc/regapi/emails", "TZ": "UTC",
	} {
		if env[name].Value != want {
			t.Errorf("api %s = %q, want %q", name, env[name].Value, want)
		}
	}

	worker := r.must(t, "Deployment", "regapi-worker").(*appsv1.Deployment)
	wc := worker.Spec.Template.Spec.Containers[0]
	if worker.Spec.Replicas == nil || *worker.Spec.Replicas != 3 {
		t.Errorf("worker replicas %s, want 3", replicas(worker))
	}
	if !slices.Equal(wc.Args, []string{"worker"}) {
		t.Errorf("worker args %v", wc.Args)
	}
	wenv := envOf(wc)
	if wenv["MAIL_CONCURRENCY"].Value != "64" || wenv["HTTP_ADDR"].Value != "" || wenv["RATE_LIMIT_PER_MINUTE"].Value != "" {
		t.Errorf("worker settings: MAIL_CONCURRENCY %q (want 64), no HTTP_ADDR or API-only settings: %+v", wenv["MAIL_CONCURRENCY"].Value, wc.Env)
	}
	if g := worker.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g <= 10 {
		t.Errorf("worker grace %v: the email being sent (up to 5 s) finishes within regapi's 10 s", g)
	}
	apiPods := labels.Set(d.Spec.Template.Labels)
	workerPods := labels.Set(worker.Spec.Template.Labels)
	wpdb := r.must(t, "PodDisruptionBudget", "regapi-worker").(*policyv1.PodDisruptionBudget)
	if sel, _ := metav1.LabelSelectorAsSelector(wpdb.Spec.Selector); !sel.Matches(workerPods) || sel.Matches(apiPods) {
		t.Errorf("the worker's PodDisruptionBudget must select the worker pods only")
	}
	if sel, _ := metav1.LabelSelectorAsSelector(d.Spec.Selector); sel.Matches(workerPods) {
		t.Errorf("the API Deployment's selector takes the worker pods")
	}

	sm := r.must(t, "ServiceMonitor", "regapi").(*monitoringv1.ServiceMonitor)
	svc := r.must(t, "Service", "regapi").(*corev1.Service)
	if sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector); err != nil || !sel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("the ServiceMonitor does not select the Service: %v", err)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want /metrics on the http port", sm.Spec.Endpoints)
	}
	if sm.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack the operator's selector label", sm.Labels)
	}

	// The operator's templates: one ConfigMap per language, at LANG/ under EMAIL_TEMPLATES_DIR,
	// in every pod that renders emails or reads the settings.
	for where, pod := range r.podSpecs() {
		mounts := map[string]string{}
		for _, m := range pod.Spec.Containers[0].VolumeMounts {
			mounts[m.Name] = m.MountPath
		}
		for _, lang := range []string{"en", "fr"} {
			if mounts["emails-"+lang] != "/etc/regapi/emails/"+lang {
				t.Errorf("%s: the %s templates are mounted at %q", where, lang, mounts["emails-"+lang])
			}
		}
		if len(pod.Spec.ImagePullSecrets) != 1 {
			t.Errorf("%s: image pull secrets %v", where, pod.Spec.ImagePullSecrets)
		}
	}
}

// The replicas of the API and of the workers are as set.
func TestReplicasAsSet(t *testing.T) {
	t.Parallel()
	r := mustRender(t, map[string]any{
		"api":        map[string]any{"replicas": 5},
		"worker":     map[string]any{"enabled": true, "replicas": 7, "podDisruptionBudget": map[string]any{"enabled": false, "maxUnavailable": 1}},
		"migrations": map[string]any{"enabled": false},
	})
	if d := r.must(t, "Deployment", "regapi").(*appsv1.Deployment); d.Spec.Replicas == nil || *d.Spec.Replicas != 5 {
		t.Errorf("api replicas %s, want 5", replicas(d))
	}
	if d := r.must(t, "Deployment", "regapi-worker").(*appsv1.Deployment); d.Spec.Replicas == nil || *d.Spec.Replicas != 7 {
		t.Errorf("worker replicas %s, want 7", replicas(d))
	}
	if _, ok := r.find("PodDisruptionBudget", "regapi-worker"); ok {
		t.Errorf("worker PodDisruptionBudget rendered while disabled")
	}
	if _, ok := r.find("Job", "regapi-migrate"); ok {
		t.Errorf("migration Job rendered while disabled")
	}
}

// HASH_CONCURRENCY follows the CPU limit, rounded up, or the request without a limit.
func TestHashConcurrencyFromCPU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		resources map[string]any
		want      string
	}{
		{map[string]any{"limits": map[string]any{"cpu": "500m", "memory": "128Mi"}, "requests": map[string]any{"memory": "128Mi"}}, "1"},
		{map[string]any{"limits": map[string]any{"cpu": 4, "memory": "256Mi"}, "requests": map[string]any{"memory": "128Mi"}}, "4"},
		{map[string]any{"limits": map[string]any{"memory": "256Mi"}, "requests": map[string]any{"cpu": "1.5", "memory": "128Mi"}}, "2"},
	} {
		// A replaced map: values' requests and limits must not merge into it.
		vals := map[string]any{"api": map[string]any{"resources": tc.resources}}
		chrt := loadChart(t)
		api := chrt.Values["api"].(map[string]any)
		api["resources"] = nil
		install := action.NewInstall(action.NewConfiguration())
		install.DryRunStrategy, install.Replace, install.ReleaseName = action.DryRunClient, true, "regapi"
		install.KubeVersion, _ = common.ParseKubeVersion(minKubeVersion)
		rel, err := install.Run(chrt, vals)
		if err != nil {
			t.Fatalf("%v: %v", tc.resources, err)
		}
		objs := decodeAll(t, rel.(*release.Release).Manifest, nil)
		var got string
		for _, o := range objs {
			if d, ok := o.typed.(*appsv1.Deployment); ok && o.name == "regapi" {
				got = envOf(d.Spec.Template.Spec.Containers[0])["HASH_CONCURRENCY"].Value
			}
		}
		if got != tc.want {
			t.Errorf("resources %v: HASH_CONCURRENCY %q, want %q", tc.resources, got, tc.want)
		}
	}
}

// A wrong value fails at install, before anything is deployed: values.schema.json, or the
// chart's own checks.
func TestWrongValuesFail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"replicas not a number", map[string]any{"api": map[string]any{"replicas": "two"}}, "replicas"},
		{"unknown provider", map[string]any{"config": map[string]any{"MAIL_PROVIDER": "sendgrid"}}, "MAIL_PROVIDER"},
		{"a duration in words", map[string]any{"config": map[string]any{"SHUTDOWN_DRAIN": "2 seconds"}}, "SHUTDOWN_DRAIN"},
		{"a misspelt setting", map[string]any{"config": map[string]any{"MAIL_FORM": "a@example.com"}}, "MAIL_FORM"},
		{"a misspelt top-level key", map[string]any{"replica": 3}, "replica"},
		{"a secret in config", map[string]any{"config": map[string]any{"DATABASE_URL": "postgres://u:p@db/regapi"}}, "DATABASE_URL"},
		{"a secret in worker config", map[string]any{"worker": map[string]any{"config": map[string]any{"CODE_SECRET": strings.Repeat("ab", 32)}}}, "CODE_SECRET"},
		{"a secret as an extra value", map[string]any{"extraEnv": []any{map[string]any{"name": "CODE_SECRET", "value": strings.Repeat("ab", 32)}}}, "extraEnv"},
		{"a number out of range", map[string]any{"config": map[string]any{"ACTIVATION_MAX_ATTEMPTS": 0}}, "ACTIVATION_MAX_ATTEMPTS"},
		{"a privileged port", map[string]any{"api": map[string]any{"port": 80}}, "port"},
		{"a grace period shorter than preStop + 10 s", map[string]any{"api": map[string]any{"preStopSleepSeconds": 15, "terminationGracePeriodSeconds": 20}}, "terminationGracePeriodSeconds"},
		{"autoscaling without a CPU request", map[string]any{"api": map[string]any{"autoscaling": map[string]any{"enabled": true}, "resources": map[string]any{"requests": map[string]any{"cpu": nil}}}}, "requests.cpu"},
	} {
		_, err := render(t, tc.vals)
		if err == nil {
			t.Errorf("%s: rendered without an error", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error does not name %s: %v", tc.name, tc.want, err)
		}
	}
}

// No secret value is in any rendered object, whatever the values: a Secret key given in
// values names a key, and a secret's value is refused (TestWrongValuesFail).
func TestNoSecretValueRendered(t *testing.T) {
	t.Parallel()
	r := mustRender(t, loadValues(t, "testdata/full-values.yaml"))
	for _, leak := range []string{"postgres://", "whsec_", "smtp://", "smtps://"} {
		if strings.Contains(r.text, leak) {
			t.Errorf("the rendered objects hold %q", leak)
		}
	}
	digest := loadValues(t, "testdata/full-values.yaml")["image"].(map[string]any)["digest"].(string)
	if regexp.MustCompile(`\b[0-9a-f]{64}\b`).MatchString(strings.ReplaceAll(r.text, digest, "")) {
		t.Errorf("the rendered objects hold a 64-hex-character value other than the image digest")
	}
}

// helm lint --strict, through the library, for the default and the full values.
func TestLint(t *testing.T) {
	t.Parallel()
	for _, vals := range []map[string]any{{}, loadValues(t, "testdata/full-values.yaml")} {
		lint := action.NewLint()
		lint.Strict = true
		lint.KubeVersion, _ = common.ParseKubeVersion(minKubeVersion)
		// Under Strict, warnings are among the errors.
		if err := errors.Join(lint.Run([]string{chartDir}, vals).Errors...); err != nil {
			t.Errorf("helm lint --strict: %v", err)
		}
	}
}

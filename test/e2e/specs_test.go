package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/rolechain/rolechain/test/e2e/framework"
)

// setupNamespace creates a namespace with the ServiceAccount "app" that the
// STS's web role trusts. The trust policy lists the namespaces of
// namespaces.txt (run.sh hands them to sts-up), so a spec can use only those.
func setupNamespace(t *testing.T, name string, labels map[string]string) string {
	t.Helper()
	return setupNamespaceWith(t, name, labels, nil)
}

// setupNamespaceWithServiceAccount is setupNamespace with annotations on
// the ServiceAccount "app" (eks.amazonaws.com/role-arn, …).
func setupNamespaceWithServiceAccount(t *testing.T, name string, saAnnotations map[string]string) string {
	t.Helper()
	return setupNamespaceWith(t, name, nil, saAnnotations)
}

func setupNamespaceWith(t *testing.T, name string, labels, saAnnotations map[string]string) string {
	t.Helper()
	listed, err := os.ReadFile("namespaces.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(listed)), name) {
		t.Fatalf("namespace %s is not in namespaces.txt: the STS would not trust its ServiceAccount", name)
	}
	ns := cluster.Namespace(t, name, labels)
	cluster.ServiceAccount(t, ns, "app", saAnnotations)
	return ns
}

func TestAnnotatedDeploymentReadsS3ThroughTheChainedRoleAndTheFirstHopAloneCannot(t *testing.T) {
	t.Parallel()
	ns := setupNamespace(t, "e2e-chain", nil)
	tmpl := annotatedPod(ns, "").reader("app", 2*time.Second, 0, true).toolbox().pod
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "reader"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "reader"}, Annotations: tmpl.Annotations},
				Spec:       tmpl.Spec,
			},
		},
	}
	ctx := context.Background()
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitForDeploymentPod(t, ns, "app=reader")

	t.Run("the sidecar is a native sidecar, first among the init containers", func(t *testing.T) {
		if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != sidecarName {
			t.Fatalf("first init container is not %s: %v", sidecarName, containerNames(pod.Spec.InitContainers))
		}
		sc := pod.Spec.InitContainers[0]
		if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways || sc.StartupProbe == nil {
			t.Fatalf("sidecar lacks restartPolicy Always or a startup probe: %+v", sc)
		}
	})

	t.Run("the app reads the object with the chained role's credentials", func(t *testing.T) {
		waitForReads(t, ns, pod.Name, "app", 2)
	})

	t.Run("the app cannot read the web-identity token and cannot write the credentials volume", func(t *testing.T) {
		if _, _, err := cluster.Exec(ns, pod.Name, "toolbox", "/toolbox", "exists", tokenPath); err == nil {
			t.Errorf("the token %s is visible in the app container", tokenPath)
		}
		if _, _, err := cluster.Exec(ns, pod.Name, "toolbox", "/toolbox", "exists", credsDir+"/credentials"); err != nil {
			t.Fatalf("the credentials file is not visible in the app container: %v", err)
		}
		_, stderr, err := cluster.Exec(ns, pod.Name, "toolbox", "/toolbox", "mark", "--after", "0s", credsDir+"/credentials", "overwritten")
		if err == nil || !strings.Contains(stderr, "read-only") {
			t.Errorf("writing the credentials file from the app container: err=%v stderr=%q, want a read-only file system error", err, stderr)
		}
	})

	t.Run("a token of another ServiceAccount is refused by the first hop", func(t *testing.T) {
		cluster.ServiceAccount(t, ns, "other", nil)
		token := serviceAccountToken(t, ns, "other")
		_, err := stsClient(nil).AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
			RoleArn: aws.String(sts.WebRoleARN), RoleSessionName: aws.String("e2e-other"), WebIdentityToken: aws.String(token),
		})
		if httpStatus(err) != 403 {
			t.Fatalf("AssumeRoleWithWebIdentity with ServiceAccount other's token: %v, want HTTP 403", err)
		}
	})

	t.Run("a token of the same ServiceAccount reaches the web role, which alone cannot read the bucket", func(t *testing.T) {
		token := serviceAccountToken(t, ns, "app")
		web := assumeWeb(t, token)
		if err := getObject(ctx, web); httpStatus(err) != 403 {
			t.Fatalf("reading with the first hop's credentials: %v, want HTTP 403", err)
		}
		// The same credentials chain into the target, which can: the 403
		// above is the role's, not a broken setup's.
		target := assumeTarget(t, web)
		if err := getObject(ctx, target); err != nil {
			t.Fatalf("reading with the chained credentials: %v", err)
		}
	})
}

func TestCredentialsRefreshWithoutAGapAndTheAppKeepsWorking(t *testing.T) {
	t.Parallel()
	ns := setupNamespace(t, "e2e-refresh", nil)
	pod := annotatedPod(ns, "refresh").annotate("rolechain.dev/refresh-interval", refreshEvery).
		reader("app", time.Second, 0, true).toolbox().create(t)
	cluster.WaitForPod(t, ns, pod.Name, 3*time.Minute, "running", framework.PodRunning)

	// Poll the file as the app sees it: every read must be complete and
	// valid (never missing, never half-written), and the keys must change
	// at least twice.
	seen := map[string]bool{}
	deadline := time.Now().Add(3 * time.Minute)
	for len(seen) < 3 && time.Now().Before(deadline) {
		c, err := readCredentials(t, ns, pod.Name, "default")
		if err != nil {
			t.Fatalf("after %d distinct credentials: %v", len(seen), err)
		}
		if time.Unix(c.Expiration, 0).Before(time.Now()) {
			t.Fatalf("the file holds expired credentials (expiration %d)", c.Expiration)
		}
		seen[c.AccessKeyID] = true
		time.Sleep(500 * time.Millisecond)
	}
	if len(seen) < 3 {
		t.Fatalf("saw %d distinct access keys in 3 minutes with refresh-interval %s, want ≥ 3", len(seen), refreshEvery)
	}
	ok, failed := readLines(t, ns, pod.Name, "app")
	if len(failed) > 0 || len(ok) == 0 {
		t.Fatalf("the app's reads across refreshes: %d ok, %d failed; first failure: %v", len(ok), len(failed), failed)
	}
}

func TestEndpointModeKeepsALongRunningSDKClientWorkingAcrossRefreshes(t *testing.T) {
	t.Parallel()
	ns := setupNamespace(t, "e2e-endpoint", nil)
	// One SDK client for the life of the container (reload=false): the
	// case the credentials file cannot serve for Go v2 and botocore.
	pod := annotatedPod(ns, "endpoint").
		annotate("rolechain.dev/credentials-endpoint", "true", "rolechain.dev/refresh-interval", refreshEvery).
		reader("app", 2*time.Second, 0, false).create(t)
	pod = cluster.WaitForPod(t, ns, pod.Name, 3*time.Minute, "running", framework.PodRunning)

	app := findContainer(pod.Spec.Containers, "app")
	if v := envValue(app, "AWS_CONTAINER_CREDENTIALS_FULL_URI"); !strings.HasPrefix(v, "http://127.0.0.1:") {
		t.Fatalf("AWS_CONTAINER_CREDENTIALS_FULL_URI = %q", v)
	}
	if v := envValue(app, "AWS_SHARED_CREDENTIALS_FILE"); v != "" {
		t.Fatalf("endpoint mode also set AWS_SHARED_CREDENTIALS_FILE=%q: file keys would win over the endpoint", v)
	}
	// Two refreshes happen within 2×refreshEvery (+ jitter); keep reading
	// well past them.
	time.Sleep(40 * time.Second)
	ok, failed := readLines(t, ns, pod.Name, "app")
	if len(failed) > 0 {
		t.Fatalf("%d failed reads, first: %s", len(failed), failed[0])
	}
	if len(ok) < 15 {
		t.Fatalf("only %d successful reads in 40 s", len(ok))
	}
	if !strings.Contains(ok[len(ok)-1], "source=") || strings.Contains(ok[len(ok)-1], "SharedConfigCredentials") {
		t.Fatalf("the reads did not use the endpoint: %s", ok[len(ok)-1])
	}
	sidecarLog := cluster.Logs(t, ns, pod.Name, sidecarName)
	if n := strings.Count(sidecarLog, "credentials refreshed"); n < 3 {
		t.Fatalf("the sidecar refreshed %d times in the window, want ≥ 3 (first fetch + 2 refreshes)", n)
	}
}

func TestJobCompletesAndInitContainersAfterTheSidecarGetCredentials(t *testing.T) {
	t.Parallel()
	ns := setupNamespace(t, "e2e-job", nil)
	b := annotatedPod(ns, "")
	b.pod.Spec.InitContainers = []corev1.Container{b.readerContainer("init-reader", time.Second, 1, false)}
	b.reader("app", time.Second, 1, false)
	b.pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template:     corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: b.pod.Annotations}, Spec: b.pod.Spec},
		},
	}
	ctx := context.Background()
	if _, err := cluster.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		j, err := cluster.Client.BatchV1().Jobs(ns).Get(ctx, "job", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if j.Status.Failed > 0 {
			return false, errors.New("the job failed")
		}
		return j.Status.Succeeded == 1, nil
	})
	if err != nil {
		t.Fatalf("job: %v", err)
	}
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=job"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("job pods: %v (%d)", err, len(pods.Items))
	}
	for _, c := range []string{"init-reader", "app"} {
		if ok, failed := readLines(t, ns, pods.Items[0].Name, c); len(ok) != 1 || len(failed) != 0 {
			t.Errorf("%s: %d ok, %d failed reads, want exactly one ok", c, len(ok), len(failed))
		}
	}
}

func TestInvalidAnnotationIsDeniedWithAMessageNamingIt(t *testing.T) {
	t.Parallel()
	ns := cluster.Namespace(t, "e2e-invalid", nil)
	// The pod names ServiceAccount "app"; without it the API server's own
	// ServiceAccount admission would refuse the pod before any webhook runs.
	cluster.ServiceAccount(t, ns, "app", nil)
	b := annotatedPod(ns, "invalid").annotate("rolechain.dev/role-arn", "arn:aws:iam::12345:role/short-account",
		"rolechain.dev/session-duration", "2h").toolbox()
	_, err := cluster.Client.CoreV1().Pods(ns).Create(context.Background(), b.pod, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("a pod with an invalid role ARN was admitted")
	}
	msg := err.Error()
	for _, want := range []string{
		`admission webhook "pod.rolechain.dev" denied the request`,
		`metadata.annotations[rolechain.dev/role-arn]`,
		`arn:aws:iam::12345:role/short-account`,
		`metadata.annotations[rolechain.dev/session-duration]`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("denial message lacks %q:\n%s", want, msg)
		}
	}
}

func TestPodWithoutTheAnnotationIsUntouchedAndTheWebhookIsNotCalled(t *testing.T) {
	// Not parallel: it counts the webhook's admissions, which other specs
	// would move.
	ns := cluster.Namespace(t, "e2e-plain", nil)
	cluster.ServiceAccount(t, ns, "app", nil)
	before := webhookAdmissions(t)
	b := annotatedPod(ns, "plain").toolbox()
	b.pod.Annotations = map[string]string{"example.com/unrelated": "yes"}
	pod := b.create(t)
	after := webhookAdmissions(t)
	if len(pod.Spec.InitContainers) != 0 || len(pod.Spec.Volumes) != 1 || len(pod.Spec.Containers[0].Env) != 0 {
		t.Fatalf("the pod was changed: init=%v volumes=%d env=%v", containerNames(pod.Spec.InitContainers), len(pod.Spec.Volumes), pod.Spec.Containers[0].Env)
	}
	for k := range pod.Annotations {
		if strings.HasPrefix(k, "rolechain.dev/") {
			t.Fatalf("the pod got annotation %s", k)
		}
	}
	if after != before {
		t.Fatalf("the webhook served %v admissions while only an unannotated pod was created", after-before)
	}
}

func TestInjectedPodIsAdmittedInARestrictedNamespace(t *testing.T) {
	t.Parallel()
	ns := setupNamespace(t, "e2e-restricted", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	pod := annotatedPod(ns, "restricted").reader("app", 2*time.Second, 0, true).create(t)
	cluster.WaitForPod(t, ns, pod.Name, 3*time.Minute, "running", framework.PodRunning)
	waitForReads(t, ns, pod.Name, "app", 1)
}

func TestEachProfileReachesItsOwnRole(t *testing.T) {
	t.Parallel()
	ns := setupNamespace(t, "e2e-profiles", nil)
	// "default" chains into the target; "web" stops at the web role, which
	// cannot read the bucket: the same app with AWS_PROFILE=web must fail.
	pod := annotatedPod(ns, "profiles").annotate("rolechain.dev/role-arn.web", sts.WebRoleARN).
		reader("target-reader", 2*time.Second, 0, true).
		reader("web-reader", 2*time.Second, 0, true, corev1.EnvVar{Name: "AWS_PROFILE", Value: "web"}).
		create(t)
	cluster.WaitForPod(t, ns, pod.Name, 3*time.Minute, "running", framework.PodRunning)
	waitForReads(t, ns, pod.Name, "target-reader", 1)
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(context.Context) (bool, error) {
		ok, failed := readLines(t, ns, pod.Name, "web-reader")
		if len(ok) > 0 {
			return false, fmt.Errorf("the web profile read the bucket: %s", ok[0])
		}
		return len(failed) > 0 && strings.Contains(failed[0], "403"), nil
	})
	if err != nil {
		t.Fatalf("web profile: %v", err)
	}
}

func TestLosingAWebhookReplicaDuringABurstLosesNoAdmission(t *testing.T) {
	// Not parallel: it deletes a webhook replica.
	ns := cluster.Namespace(t, "e2e-burst", nil)
	cluster.ServiceAccount(t, ns, "app", nil)
	ctx := context.Background()
	replicas, err := cluster.Client.CoreV1().Pods(framework.WebhookNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=rolechain"})
	if err != nil || len(replicas.Items) < 2 {
		t.Fatalf("want ≥ 2 webhook replicas: %v (%d)", err, len(replicas.Items))
	}
	const burst = 30
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
			b := annotatedPod(ns, fmt.Sprintf("burst-%d", i)).toolbox()
			pod, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, b.pod, metav1.CreateOptions{})
			switch {
			case err != nil:
				errs <- fmt.Errorf("pod %d: %w", i, err)
			case len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != sidecarName:
				errs <- fmt.Errorf("pod %d was admitted without the sidecar", i)
			}
		}()
	}
	time.Sleep(time.Second)
	victim := replicas.Items[0].Name
	if err := cluster.Client.CoreV1().Pods(framework.WebhookNamespace).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting webhook replica %s: %v", victim, err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// --- helpers ---

func waitForDeploymentPod(t *testing.T, ns, selector string) *corev1.Pod {
	t.Helper()
	var name string
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		name = pods.Items[0].Name
		return true, nil
	})
	if err != nil {
		t.Fatalf("no pod for %s: %v", selector, err)
	}
	return cluster.WaitForPod(t, ns, name, 3*time.Minute, "running", framework.PodRunning)
}

func waitForReads(t *testing.T, ns, pod, container string, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		ok, failed := readLines(t, ns, pod, container)
		if len(failed) > 0 {
			return false, fmt.Errorf("read failed: %s", failed[0])
		}
		return len(ok) >= n, nil
	})
	if err != nil {
		t.Fatalf("%s/%s[%s]: waiting for %d successful reads: %v", ns, pod, container, n, err)
	}
}

func serviceAccountToken(t *testing.T, ns, sa string) string {
	t.Helper()
	tr, err := cluster.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authv1.TokenRequest{
		Spec: authv1.TokenRequestSpec{Audiences: []string{"sts.amazonaws.com"}, ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

func stsClient(creds aws.CredentialsProvider) *awssts.Client {
	return awssts.New(awssts.Options{Region: sts.Region, BaseEndpoint: aws.String(sts.Endpoint), Credentials: creds})
}

func assumeWeb(t *testing.T, token string) aws.Credentials {
	t.Helper()
	out, err := stsClient(nil).AssumeRoleWithWebIdentity(context.Background(), &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String(sts.WebRoleARN), RoleSessionName: aws.String("e2e-first-hop"), WebIdentityToken: aws.String(token),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity: %v", err)
	}
	return aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}
}

func assumeTarget(t *testing.T, web aws.Credentials) aws.Credentials {
	t.Helper()
	out, err := stsClient(credentials.StaticCredentialsProvider{Value: web}).AssumeRole(context.Background(), &awssts.AssumeRoleInput{
		RoleArn: aws.String(sts.TargetRoleARN), RoleSessionName: aws.String("e2e-second-hop"),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	return aws.Credentials{AccessKeyID: *out.Credentials.AccessKeyId, SecretAccessKey: *out.Credentials.SecretAccessKey, SessionToken: *out.Credentials.SessionToken}
}

func getObject(ctx context.Context, creds aws.Credentials) error {
	client := s3.New(s3.Options{
		Region: sts.Region, BaseEndpoint: aws.String(sts.Endpoint), UsePathStyle: true,
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
	})
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(sts.Bucket), Key: aws.String(sts.ObjectKey)})
	if err == nil {
		out.Body.Close()
	}
	return err
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// webhookAdmissions sums rolechain_webhook_admissions_total over the
// webhook's replicas, read through the API server's pod proxy.
func webhookAdmissions(t *testing.T) float64 {
	t.Helper()
	ctx := context.Background()
	pods, err := cluster.Client.CoreV1().Pods(framework.WebhookNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=rolechain"})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("webhook pods: %v", err)
	}
	var total float64
	for _, p := range pods.Items {
		raw, err := cluster.Client.CoreV1().RESTClient().Get().Namespace(p.Namespace).Resource("pods").
			Name(p.Name + ":8080").SubResource("proxy").Suffix("metrics").DoRaw(ctx)
		if err != nil {
			t.Fatalf("metrics of %s: %v", p.Name, err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "rolechain_webhook_admissions_total") {
				var v float64
				if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
					total += v
				}
			}
		}
	}
	return total
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func findContainer(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func envValue(c *corev1.Container, name string) string {
	if c == nil {
		return ""
	}
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

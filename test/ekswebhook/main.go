// Command ekswebhook is the e2e suite's stand-in for EKS's pod identity
// webhook: an admission webhook that applies EKS's documented mutation
// (package mutation) to every pod it is called for, reading the pod's
// ServiceAccount as EKS does. The e2e suite runs it in the cluster and
// registers it once under a name that sorts before rolechain's (as on EKS,
// where it is "pod-identity-webhook") and once after.
//
// Usage: ekswebhook --tls-cert FILE --tls-key FILE [--port 8443]
// [--aws-default-region R] [--sts-regional-endpoint]
// [--container-credentials-full-uri URL]
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/rolechain/rolechain/test/ekswebhook/mutation"
)

func main() {
	cfg := mutation.Defaults()
	port := flag.Int("port", 8443, "HTTPS port; the webhook is served at /mutate")
	cert := flag.String("tls-cert", "", "serving certificate (PEM)")
	key := flag.String("tls-key", "", "its key (PEM)")
	flag.StringVar(&cfg.Region, "aws-default-region", "", "if set, AWS_DEFAULT_REGION and AWS_REGION are set to it in mutated containers")
	flag.BoolVar(&cfg.RegionalSTS, "sts-regional-endpoint", false, "add AWS_STS_REGIONAL_ENDPOINTS=regional")
	flag.StringVar(&cfg.ContainerCredentialsFullURI, "container-credentials-full-uri", cfg.ContainerCredentialsFullURI, "AWS_CONTAINER_CREDENTIALS_FULL_URI of Pod Identity pods")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(*port, *cert, *key, cfg, log); err != nil {
		log.Error("ekswebhook stopped", "error", err.Error())
		os.Exit(1)
	}
}

func run(port int, certFile, keyFile string, cfg mutation.Config, log *slog.Logger) error {
	restCfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return err
	}
	h := &handler{client: client, decoder: admission.NewDecoder(scheme), cfg: cfg, log: log}
	mux := http.NewServeMux()
	mux.Handle("/mutate", &admission.Webhook{Handler: h})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	srv := &http.Server{
		Addr: ":" + strconv.Itoa(port), Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving", "port", port, "region", cfg.Region, "regional_sts", cfg.RegionalSTS)
	if err := srv.ListenAndServeTLS("", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type handler struct {
	client  kubernetes.Interface
	decoder admission.Decoder
	cfg     mutation.Config
	log     *slog.Logger
}

// Handle mutates a pod as EKS's webhook would. Like EKS's, it fails open:
// a pod it cannot read is allowed unchanged.
func (h *handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	pod := &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	name := pod.Spec.ServiceAccountName
	if name == "" {
		name = "default"
	}
	sa, err := h.client.CoreV1().ServiceAccounts(req.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return admission.Allowed("no ServiceAccount")
	}
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading ServiceAccount %s/%s: %w", req.Namespace, name, err))
	}
	out, changed := mutation.Mutate(pod, sa, h.cfg)
	h.log.Info("admission", "namespace", req.Namespace, "serviceaccount", name, "changed", changed)
	if !changed {
		return admission.Allowed("nothing to inject")
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

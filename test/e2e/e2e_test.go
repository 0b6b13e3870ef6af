// The e2e suite: specs that hold on any cluster with rolechain installed and
// an STS peer (the local cluster of test/cluster with radosgw, or kind).
// `make e2e` and `make e2e-kind` run exactly this code.
//
// Inputs: KUBECONFIG, and STS_ENV, the sts.env written by test/sts/up.sh
// (STS_ENDPOINT, WEB_ROLE_ARN, TARGET_ROLE_ARN, BUCKET, OBJECT_KEY, REGION).
// Optional: MINIO_ENV, the minio.env of test/sts/minio-up.sh, for the specs
// against MinIO as a second web-identity peer (they skip without it).
// The web role trusts the ServiceAccount "app" of the namespaces listed in
// Namespaces below; test/e2e/run.sh passes them to sts-up.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rolechain/rolechain/test/e2e/framework"
)

var (
	cluster *framework.Cluster
	sts     stsPeer
)

// stsPeer is what the suite needs to know of the STS and its roles.
type stsPeer struct {
	Endpoint, WebRoleARN, TargetRoleARN, Bucket, ObjectKey, Region string
}

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func setup() error {
	c, err := framework.Connect()
	if err != nil {
		return err
	}
	cluster = c
	path := os.Getenv("STS_ENV")
	if path == "" {
		path = filepath.Join("..", "..", ".cache", "sts", "sts.env")
	}
	env, err := framework.LoadEnvFile(path)
	if err != nil {
		return fmt.Errorf("reading the STS description (STS_ENV): %w", err)
	}
	sts = stsPeer{
		Endpoint: env["STS_ENDPOINT"], WebRoleARN: env["WEB_ROLE_ARN"], TargetRoleARN: env["TARGET_ROLE_ARN"],
		Bucket: env["BUCKET"], ObjectKey: env["OBJECT_KEY"], Region: env["REGION"],
	}
	for k, v := range map[string]string{"STS_ENDPOINT": sts.Endpoint, "WEB_ROLE_ARN": sts.WebRoleARN,
		"TARGET_ROLE_ARN": sts.TargetRoleARN, "BUCKET": sts.Bucket, "OBJECT_KEY": sts.ObjectKey} {
		if v == "" {
			return fmt.Errorf("%s lacks %s", path, k)
		}
	}
	return nil
}

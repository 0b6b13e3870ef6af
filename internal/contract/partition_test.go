package contract

import "testing"

func TestPartitionOfRegionAndDefaultRegion(t *testing.T) {
	for region, want := range map[string]string{
		"eu-west-1": PartitionAWS, "us-east-1": PartitionAWS,
		"cn-north-1": PartitionChina, "cn-northwest-1": PartitionChina,
		"us-gov-west-1": PartitionGov, "us-gov-east-1": PartitionGov,
	} {
		if got := PartitionOfRegion(region); got != want {
			t.Errorf("PartitionOfRegion(%s) = %q, want %q", region, got, want)
		}
	}
	for partition, want := range map[string]string{PartitionAWS: "us-east-1", PartitionChina: "cn-north-1", PartitionGov: "us-gov-west-1", "minio": ""} {
		if got := DefaultRegion(partition); got != want {
			t.Errorf("DefaultRegion(%s) = %q, want %q", partition, got, want)
		}
	}
}

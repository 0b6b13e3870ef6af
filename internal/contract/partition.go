package contract

import "strings"

// Partitions whose STS endpoints and regions rolechain knows. The webhook
// and the sidecar both check that a chain's roles and its region agree.
const (
	PartitionAWS   = "aws"
	PartitionChina = "aws-cn"
	PartitionGov   = "aws-us-gov"
)

// PartitionOfRegion returns the partition a region belongs to.
func PartitionOfRegion(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return PartitionChina
	case strings.HasPrefix(region, "us-gov-"):
		return PartitionGov
	default:
		return PartitionAWS
	}
}

// DefaultRegion is the region whose STS endpoint serves a partition when no
// region is configured ("" for an unknown partition).
func DefaultRegion(partition string) string {
	switch partition {
	case PartitionAWS:
		return "us-east-1"
	case PartitionChina:
		return "cn-north-1"
	case PartitionGov:
		return "us-gov-west-1"
	default:
		return ""
	}
}

package chain

import "strings"

// Partitions rolechain knows the STS endpoints of.
const (
	PartitionAWS   = "aws"
	PartitionChina = "aws-cn"
	PartitionGov   = "aws-us-gov"
)

// PartitionOfARN returns the partition field of an ARN ("" if malformed).
func PartitionOfARN(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" {
		return ""
	}
	return parts[1]
}

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

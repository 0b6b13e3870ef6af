package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"syscall"
)

// addLoopbackAddress adds ip/32 to the lo interface of the process's
// network namespace (what `ip addr add IP/32 dev lo` does), with one
// RTM_NEWADDR request over rtnetlink: the stand-in agent listens at the
// EKS Pod Identity Agent's address, which on a node is local too. An
// address already present is not an error. It needs CAP_NET_ADMIN.
func addLoopbackAddress(ip net.IP) error {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return err
	}
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)

	// nlmsghdr (16) + ifaddrmsg (8) + IFA_LOCAL and IFA_ADDRESS (8 each).
	msg := make([]byte, syscall.NLMSG_HDRLEN+syscall.SizeofIfAddrmsg+2*(syscall.SizeofRtAttr+4))
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], syscall.RTM_NEWADDR)
	ne.PutUint16(msg[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_ACK|syscall.NLM_F_CREATE|syscall.NLM_F_EXCL)
	ne.PutUint32(msg[8:], 1) // sequence number
	b := msg[syscall.NLMSG_HDRLEN:]
	b[0] = syscall.AF_INET
	b[1] = 32 // prefix length
	b[3] = syscall.RT_SCOPE_HOST
	ne.PutUint32(b[4:], uint32(lo.Index))
	b = b[syscall.SizeofIfAddrmsg:]
	for _, typ := range []uint16{syscall.IFA_LOCAL, syscall.IFA_ADDRESS} {
		ne.PutUint16(b[0:], syscall.SizeofRtAttr+4)
		ne.PutUint16(b[2:], typ)
		copy(b[4:8], ip.To4())
		b = b[8:]
	}
	if err := syscall.Sendto(fd, msg, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return err
	}

	// The kernel answers with an NLMSG_ERROR message: errno 0 is success.
	buf := make([]byte, 4096)
	n, _, err := syscall.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Type != syscall.NLMSG_ERROR || len(m.Data) < 4 {
			continue
		}
		switch errno := -int32(ne.Uint32(m.Data[0:4])); syscall.Errno(errno) {
		case 0, syscall.EEXIST:
			return nil
		default:
			return fmt.Errorf("RTM_NEWADDR: %w", syscall.Errno(errno))
		}
	}
	return fmt.Errorf("RTM_NEWADDR: no acknowledgement")
}

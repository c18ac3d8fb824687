/* fwd_spec: see fwd_spec.h. */
#include "lib/fwd_spec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "lib/dec.h"
#include "lib/err.h"

static int port_parse(const char *s, uint16_t *port)
{
	uint64_t v;

	if (dec_parse(s, strlen(s), 65535, &v) < 0 || v < 1)
		return err_set(-EINVAL, "port '%s': expected 1..65535%s", s, dec_why(s, strlen(s)));
	*port = (uint16_t)v;
	return 0;
}

int fwd_spec_parse(const char *spec, bool dest_optional, struct fwd_spec *f)
{
	char buf[FWD_SPEC_MAX + 1], *proto = buf, *port, *ip = NULL, *dport = NULL;
	int rc;

	memset(f, 0, sizeof(*f));
	if (strlen(spec) > FWD_SPEC_MAX)
		return err_set(-EINVAL, "longer than %u bytes", FWD_SPEC_MAX);
	strcpy(buf, spec);
	port = strchr(proto, ':');
	if (port) {
		*port++ = '\0';
		ip = strchr(port, ':');
	}
	if (ip) {
		*ip++ = '\0';
		f->family = AF_INET;
		if (*ip == '[') {
			char *close = strchr(++ip, ']');

			if (!close || close[1] != ':')
				return err_set(-EINVAL, "expected [IPV6]:PORT after the outside port");
			*close = '\0';
			dport = close + 2;
			f->family = AF_INET6;
		} else if ((dport = strchr(ip, ':'))) {
			*dport++ = '\0';
			if (strchr(dport, ':'))
				return err_set(-EINVAL, "an IPv6 destination goes in brackets, e.g. "
						        "tcp:8080:[2001:db8::10]:80");
		}
	}
	if (!port || (ip && !dport) || (!ip && !dest_optional))
		return err_set(-EINVAL, "expected PROTO:PORT:ADDRESS:PORT%s (e.g. "
					"tcp:8080:203.0.113.10:80, tcp:8080:[2001:db8::10]:80)",
			       dest_optional ? " or PROTO:PORT" : "");
	if (!strcasecmp(proto, "tcp"))
		f->proto = IPPROTO_TCP;
	else if (!strcasecmp(proto, "udp"))
		f->proto = IPPROTO_UDP;
	else
		return err_set(-EINVAL, "protocol '%s': expected tcp|udp", proto);
	rc = port_parse(port, &f->port);
	if (rc < 0 || !ip)
		return rc;
	if (inet_pton(f->family, ip, &f->dest) != 1)
		return err_set(-EINVAL, "destination '%s': expected an %s address", ip,
			       f->family == AF_INET6 ? "IPv6" : "IPv4");
	return port_parse(dport, &f->dport);
}

/* libFuzzer harness: one control-socket request line through netd's
 * dispatcher (netd with no networks, so nothing touches the host). Every
 * input must get a reply object with "version" and "ok". */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netd/ctl.h"
#include "netd/daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct netd d;
	json_t *reply;

	if (size > CTL_LINE_MAX)
		return 0;
	reply = ctl_handle_line(&d, (const char *)data, size);
	if (!json_is_object(reply) || !json_is_integer(json_object_get(reply, "version")) ||
	    !json_is_boolean(json_object_get(reply, "ok")))
		abort();
	json_decref(reply);
	return 0;
}

/* vif_json: a plugged vif as remembered in the state file. */
#ifndef NETD_VIF_JSON_H
#define NETD_VIF_JSON_H

#include <jansson.h>

#include "vif/vif.h"

json_t *vif_to_json(const struct vif *v);
/* Re-validates every field through the vif parser: the state file is input too. */
int vif_from_json(json_t *j, struct vif *v);
/* Is the entry the emulated NIC's tap (key "type_if": "tap") or the PV vif
 * ("vif")? Entries from before the key existed: by their name (-emu). */
int vif_json_type(json_t *j, bool *emu);

#endif

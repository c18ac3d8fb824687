/* hvsim: the simulated hypervisor's command-line tool. Each subcommand
 * lives in its own file and is listed in hvsim.c's table. Subcommands
 * return 0 on success, 1 when the operation failed (after one line on
 * stderr), 2 on a usage error. */
#ifndef HV_SIM_HVSIM_H
#define HV_SIM_HVSIM_H

int hv_cmd_xenstored(int argc, char **argv);
int hv_cmd_domain(int argc, char **argv);	/* needs libxenstore */
int hv_cmd_vif(int argc, char **argv);		/* needs libxenstore, vif/ */
int hv_cmd_guest(int argc, char **argv);	/* needs hv_guest (the broker) */

#endif

/* Every command's entry point. One file per command (or per small group). */
#ifndef CRYO_COMMANDS_H
#define CRYO_COMMANDS_H

#include "cli.h"

/* -- info -- */
int cmd_info(struct cli *cli, int argc, char **argv);
/* -- images -- */
/* -- containers and volumes -- */
/* -- checkpoint / restore -- */

#endif

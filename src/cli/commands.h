/* Every command's entry point. One file per command (or per small group). */
#ifndef CRYO_COMMANDS_H
#define CRYO_COMMANDS_H

#include "cli.h"

/* -- info -- */
int cmd_info(struct cli *cli, int argc, char **argv);
int cmd_system_check(struct cli *cli, int argc, char **argv);
int cmd_system_prune(struct cli *cli, int argc, char **argv);
int cmd_system_df(struct cli *cli, int argc, char **argv);
/* -- images -- */
int cmd_images(struct cli *cli, int argc, char **argv);
int cmd_image_import(struct cli *cli, int argc, char **argv);
int cmd_image_load(struct cli *cli, int argc, char **argv);
int cmd_image_rm(struct cli *cli, int argc, char **argv);
int cmd_image_inspect(struct cli *cli, int argc, char **argv);
int cmd_image_mount(struct cli *cli, int argc, char **argv);
int cmd_image_unmount(struct cli *cli, int argc, char **argv);
int cmd_image_push(struct cli *cli, int argc, char **argv);
int cmd_image_pull(struct cli *cli, int argc, char **argv);
/* -- containers and volumes -- */
int cmd_create(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_start(struct cli *cli, int argc, char **argv);
int cmd_ps(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_logs(struct cli *cli, int argc, char **argv);
int cmd_stop(struct cli *cli, int argc, char **argv);
int cmd_kill(struct cli *cli, int argc, char **argv);
int cmd_pause(struct cli *cli, int argc, char **argv);
int cmd_unpause(struct cli *cli, int argc, char **argv);
int cmd_wait(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_exec(struct cli *cli, int argc, char **argv);
int cmd_attach(struct cli *cli, int argc, char **argv);
int cmd_volume_create(struct cli *cli, int argc, char **argv);
int cmd_volume_ls(struct cli *cli, int argc, char **argv);
int cmd_volume_inspect(struct cli *cli, int argc, char **argv);
int cmd_volume_rm(struct cli *cli, int argc, char **argv);
int cmd_network_create(struct cli *cli, int argc, char **argv);
int cmd_network_ls(struct cli *cli, int argc, char **argv);
int cmd_network_inspect(struct cli *cli, int argc, char **argv);
int cmd_network_rm(struct cli *cli, int argc, char **argv);
/* -- checkpoint / restore -- */
int cmd_checkpoint(struct cli *cli, int argc, char **argv);
int cmd_checkpoint_inspect(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
int cmd_migrate(struct cli *cli, int argc, char **argv);
int cmd_key_show(struct cli *cli, int argc, char **argv);
int cmd_trust_add(struct cli *cli, int argc, char **argv);
int cmd_trust_ls(struct cli *cli, int argc, char **argv);
int cmd_trust_rm(struct cli *cli, int argc, char **argv);

#endif

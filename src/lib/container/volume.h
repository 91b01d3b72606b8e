/* Named volumes: directories owned by the engine that outlive containers and
 * can be shared between them. root/volumes/NAME/_data is what containers see. */
#ifndef CRYO_VOLUME_H
#define CRYO_VOLUME_H

#include <json-c/json.h>
#include <stdbool.h>

#include "engine.h"
#include "error.h"

char *volume_data_dir(struct cryo_engine *engine, const char *name);

/* Create a volume. With if_missing, an existing volume is not an error. */
int volume_create(struct cryo_engine *engine, const char *name, bool if_missing, cryo_err *err);
/* Remove a volume and its data; refused while any container (running or not) uses it. */
int volume_remove(struct cryo_engine *engine, const char *name, cryo_err *err);
struct json_object *volume_inspect_json(struct cryo_engine *engine, const char *name, int64_t created);

#endif

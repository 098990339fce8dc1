/* The feature-bit name table, defined in C (feature_table.c). Private to libvhnet. */
#ifndef VHNET_FEATURE_TABLE_H
#define VHNET_FEATURE_TABLE_H

#ifdef __cplusplus
extern "C" {
#endif

struct vhnet_feature_entry {
    unsigned bit;
    const char *name;
};

/* Every feature bit with a name, in ascending bit order. */
extern const struct vhnet_feature_entry vhnet_feature_table[];
extern const unsigned vhnet_feature_table_len;

#ifdef __cplusplus
}
#endif

#endif /* VHNET_FEATURE_TABLE_H */

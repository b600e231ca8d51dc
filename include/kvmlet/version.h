/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMLET_VERSION_H
#define KVMLET_VERSION_H

#define KVMLET_VERSION "0.2.0"

#endif

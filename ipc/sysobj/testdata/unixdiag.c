/* Prints struct unix_diag_req's size and field offsets from the kernel's
 * uapi header, in the order of the Go test. */
#include <stddef.h>
#include <stdio.h>
#include <linux/unix_diag.h>

#define O(f) offsetof(struct unix_diag_req, f)
int main(void) {
	printf("%zu %zu %zu %zu %zu %zu %zu\n", sizeof(struct unix_diag_req), O(sdiag_family), O(sdiag_protocol),
	       O(udiag_states), O(udiag_ino), O(udiag_show), O(udiag_cookie));
	return 0;
}

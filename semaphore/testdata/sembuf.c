/* Prints struct sembuf's size and field offsets from the kernel's uapi
 * header: "sizeof off_num off_op off_flg". */
#include <stddef.h>
#include <stdio.h>
#include <linux/sem.h>

int main(void) {
	printf("%zu %zu %zu %zu\n", sizeof(struct sembuf), offsetof(struct sembuf, sem_num),
	       offsetof(struct sembuf, sem_op), offsetof(struct sembuf, sem_flg));
	return 0;
}

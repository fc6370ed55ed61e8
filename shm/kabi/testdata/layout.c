/* Prints the size and field offsets of the kernel's IPC structures, from
 * the kernel's uapi headers, one line each: "struct field offset size"
 * ("struct - 0 sizeof" for the whole). With -DGENERIC_SEMBUF, semid64_ds
 * comes from asm-generic/sembuf.h (arm64's layout) instead of the
 * machine's own asm/sembuf.h. */
#include <stddef.h>
#include <stdio.h>
#ifdef GENERIC_SEMBUF
#include <asm-generic/sembuf.h>
#else
#include <asm/sembuf.h>
#endif
#include <asm/msgbuf.h>
#include <linux/mqueue.h>

#define F(s, f) printf("%s %s %zu %zu\n", #s, #f, offsetof(struct s, f), sizeof(((struct s *)0)->f))
#define S(s) printf("%s - 0 %zu\n", #s, sizeof(struct s))

int main(void) {
	S(ipc64_perm);
	S(semid64_ds);
	F(semid64_ds, sem_perm);
	F(semid64_ds, sem_otime);
	F(semid64_ds, sem_ctime);
	F(semid64_ds, sem_nsems);
	S(msqid64_ds);
	F(msqid64_ds, msg_perm);
	F(msqid64_ds, msg_stime);
	F(msqid64_ds, msg_rtime);
	F(msqid64_ds, msg_ctime);
	F(msqid64_ds, msg_cbytes);
	F(msqid64_ds, msg_qnum);
	F(msqid64_ds, msg_qbytes);
	F(msqid64_ds, msg_lspid);
	F(msqid64_ds, msg_lrpid);
	S(mq_attr);
	F(mq_attr, mq_flags);
	F(mq_attr, mq_maxmsg);
	F(mq_attr, mq_msgsize);
	F(mq_attr, mq_curmsgs);
	return 0;
}

/*
 * ipcobjs: makes IPC objects the way C programs do, for the end-to-end
 * tests of ipcplay inspect / who / watch, which compare what ipcplay shows
 * with the values set here.
 *
 *   ipcobjs create PREFIX
 *       Creates, all mode 0600:
 *         posix-sem  PREFIXsem   sem_open, value 3
 *         posix-shm  PREFIXshm   shm_open, 8192 bytes, "hello posix" at 0, mapped
 *         posix-mq   PREFIXmq    mq_open, maxmsg 5, msgsize 64, one 11-byte message
 *         sysv-shm   IPC_PRIVATE 16384 bytes, "hello sysv" at 100, attached
 *         sysv-sem   IPC_PRIVATE 3 semaphores, values 1 0 7, each last touched by this pid
 *         sysv-msg   IPC_PRIVATE 2 messages of 10 and 20 bytes
 *       prints "pid N", "sysv-shm ID", "sysv-sem ID", "sysv-msg ID",
 *       "posix-mq ok" or "posix-mq-errno N", then "ready"; waits for
 *       stdin to close; removes everything; prints "removed".
 *   ipcobjs sem-wait NAME          take every unit of a named semaphore, then sem_wait
 *   ipcobjs semop-wait ID NUM OP   semop(ID, {NUM, OP, 0}) (blocks if it must)
 *   ipcobjs msgrcv-wait ID         msgrcv on a message type nobody sends
 *   ipcobjs mq-wait NAME           receive every message of POSIX queue NAME,
 *                                  then block in mq_receive
 *   ipcobjs map-shm NAME           shm_open + mmap read-only; wait for stdin to close
 *   ipcobjs lock PATH flock|fcntl|ofd
 *                                  take an exclusive lock (flock, F_SETLKW, or an
 *                                  open file description lock F_OFD_SETLKW);
 *                                  wait for stdin to close
 *   ipcobjs lock PATH flock-fork   flock, then fork: the child keeps the
 *                                  descriptor (and so the lock), prints
 *                                  "holder PID" and waits; the parent exits
 *   ipcobjs shm-mutex-wait NAME    waits in a futex on offset 64 of posix shm NAME
 *   ipcobjs bind-relative DIR NAME chdir(DIR), bind a stream socket to the relative
 *                                  NAME and listen; print "ready"; wait for stdin
 *                                  to close
 *
 * The waiting modes print "waiting" just before they block; a test then
 * polls until ipcplay sees the waiter, and kills the process. Every mode but
 * create ends by SIGALRM after two minutes, should the test die first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static void die(const char *what) {
	fprintf(stderr, "ipcobjs: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void wait_stdin_eof(void) {
	char buf[64];
	while (read(0, buf, sizeof buf) > 0) {
	}
}

static char *cat(const char *a, const char *b) {
	char *s = malloc(strlen(a) + strlen(b) + 1);
	strcpy(s, a);
	strcat(s, b);
	return s;
}

static int create(const char *prefix) {
	char *semname = cat(prefix, "sem"), *shmname = cat(prefix, "shm"), *mqname = cat(prefix, "mq");
	printf("pid %d\n", getpid());

	sem_t *sem = sem_open(semname, O_CREAT | O_EXCL, 0600, 3);
	if (sem == SEM_FAILED)
		die("sem_open");

	int fd = shm_open(shmname, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (fd < 0)
		die("shm_open");
	if (ftruncate(fd, 8192) < 0)
		die("ftruncate");
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap");
	strcpy(p, "hello posix");

	struct mq_attr attr = {.mq_maxmsg = 5, .mq_msgsize = 64};
	mqd_t mq = mq_open(mqname, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
	if (mq == (mqd_t)-1) {
		printf("posix-mq-errno %d\n", errno);
	} else {
		if (mq_send(mq, "hello queue", 11, 1) < 0)
			die("mq_send");
		printf("posix-mq ok\n");
	}

	int shmid = shmget(IPC_PRIVATE, 16384, IPC_CREAT | IPC_EXCL | 0600);
	if (shmid < 0)
		die("shmget");
	char *q = shmat(shmid, NULL, 0);
	if (q == (void *)-1)
		die("shmat");
	strcpy(q + 100, "hello sysv");
	printf("sysv-shm %d\n", shmid);

	int semid = semget(IPC_PRIVATE, 3, IPC_CREAT | IPC_EXCL | 0600);
	if (semid < 0)
		die("semget");
	unsigned short vals[3] = {1, 0, 7};
	union semun arg = {.array = vals};
	if (semctl(semid, 0, SETALL, arg) < 0)
		die("semctl SETALL");
	for (int i = 0; i < 3; i++) {
		struct sembuf up = {(unsigned short)i, 1, 0}, down = {(unsigned short)i, -1, 0};
		if (semop(semid, &up, 1) < 0 || semop(semid, &down, 1) < 0)
			die("semop");
	}
	printf("sysv-sem %d\n", semid);

	int msqid = msgget(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0600);
	if (msqid < 0)
		die("msgget");
	struct {
		long mtype;
		char text[32];
	} msg = {1, "0123456789abcdefghijklmnopqrs"};
	if (msgsnd(msqid, &msg, 10, 0) < 0 || msgsnd(msqid, &msg, 20, 0) < 0)
		die("msgsnd");
	printf("sysv-msg %d\n", msqid);

	printf("ready\n");
	fflush(stdout);
	wait_stdin_eof();

	sem_close(sem);
	sem_unlink(semname);
	munmap(p, 8192);
	close(fd);
	shm_unlink(shmname);
	if (mq != (mqd_t)-1) {
		mq_close(mq);
		mq_unlink(mqname);
	}
	shmdt(q);
	shmctl(shmid, IPC_RMID, NULL);
	semctl(semid, 0, IPC_RMID);
	msgctl(msqid, IPC_RMID, NULL);
	printf("removed\n");
	return 0;
}

static void waiting(void) {
	printf("waiting\n");
	fflush(stdout);
}

int main(int argc, char **argv) {
	if (argc >= 3 && strcmp(argv[1], "create") == 0)
		return create(argv[2]);
	alarm(120);
	if (argc >= 3 && strcmp(argv[1], "sem-wait") == 0) {
		sem_t *s = sem_open(argv[2], 0);
		if (s == SEM_FAILED)
			die("sem_open");
		while (sem_trywait(s) == 0) {
		}
		waiting();
		while (sem_wait(s) < 0 && errno == EINTR) {
		}
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "semop-wait") == 0) {
		struct sembuf op = {(unsigned short)atoi(argv[3]), (short)atoi(argv[4]), 0};
		waiting();
		if (semop(atoi(argv[2]), &op, 1) < 0)
			die("semop");
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "msgrcv-wait") == 0) {
		struct {
			long mtype;
			char text[64];
		} msg;
		waiting();
		if (msgrcv(atoi(argv[2]), &msg, sizeof msg.text, 999, 0) < 0)
			die("msgrcv");
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "mq-wait") == 0) {
		mqd_t q = mq_open(argv[2], O_RDONLY | O_NONBLOCK);
		struct mq_attr a;
		char buf[8192];
		if (q == (mqd_t)-1)
			die("mq_open");
		while (mq_receive(q, buf, sizeof buf, NULL) >= 0) {
		}
		if (mq_getattr(q, &a) < 0)
			die("mq_getattr");
		a.mq_flags = 0;
		if (mq_setattr(q, &a, NULL) < 0)
			die("mq_setattr");
		waiting();
		while (mq_receive(q, buf, sizeof buf, NULL) < 0 && errno == EINTR) {
		}
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "map-shm") == 0) {
		int fd = shm_open(argv[2], O_RDONLY, 0);
		if (fd < 0)
			die("shm_open");
		if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
			die("mmap");
		close(fd);
		printf("mapped\n");
		fflush(stdout);
		wait_stdin_eof();
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "lock") == 0) {
		int fd = open(argv[2], O_RDWR);
		if (fd < 0)
			die("open");
		if (strcmp(argv[3], "flock") == 0 || strcmp(argv[3], "flock-fork") == 0) {
			if (flock(fd, LOCK_EX) < 0)
				die("flock");
			if (strcmp(argv[3], "flock-fork") == 0) {
				pid_t child = fork();
				if (child < 0)
					die("fork");
				if (child > 0)
					_exit(0); /* the lock stays with the child's descriptor */
				alarm(120); /* a child does not inherit the parent's */
				printf("holder %d\n", (int)getpid());
			}
		} else if (strcmp(argv[3], "ofd") == 0) {
			struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
			if (fcntl(fd, F_OFD_SETLKW, &fl) < 0)
				die("fcntl F_OFD_SETLKW");
		} else {
			struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
			if (fcntl(fd, F_SETLKW, &fl) < 0)
				die("fcntl");
		}
		printf("locked\n");
		fflush(stdout);
		wait_stdin_eof();
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "shm-mutex-wait") == 0) {
		int fd = shm_open(argv[2], O_RDWR, 0);
		if (fd < 0)
			die("shm_open");
		unsigned int *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			die("mmap");
		waiting();
		/* Wait while the word at offset 64 is 0: nobody changes it. */
		syscall(SYS_futex, p + 16, FUTEX_WAIT, 0, NULL, NULL, 0);
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "bind-relative") == 0) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		if (chdir(argv[2]) < 0)
			die("chdir");
		strncpy(a.sun_path, argv[3], sizeof a.sun_path - 1);
		if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
			die("bind");
		if (listen(fd, 4) < 0)
			die("listen");
		printf("ready\n");
		fflush(stdout);
		wait_stdin_eof();
		return 0;
	}
	fprintf(stderr, "usage: ipcobjs create PREFIX | sem-wait NAME | semop-wait ID NUM OP | msgrcv-wait ID | map-shm NAME | lock PATH flock|fcntl|ofd|flock-fork | shm-mutex-wait NAME | bind-relative DIR NAME\n");
	return 2;
}

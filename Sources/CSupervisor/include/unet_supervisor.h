#ifndef UNET_CKPT_SUPERVISOR_H
#define UNET_CKPT_SUPERVISOR_H
/* The supervision of unet-ckpt (docs/robustness.md), decided before main.

   A constructor that runs before any other code of the executable (before the Swift runtime,
   Foundation or any library has started a thread or taken a lock) forks the process when the
   command reads files: the child runs the command; the parent waits for it, passes SIGINT,
   SIGTERM and SIGHUP on, kills it at the time limit, and ends with the child's exit status. (Where
   the Swift runtime is a shared library, as in debug builds, the child re-executes itself first:
   supervisor.c, runtime_is_shared.) Only
   when the child did not exit by itself (a signal, or the time limit) does the parent go on into
   main, which reports it and removes what the child left (Sources/unet-ckpt/Supervisor.swift). */

typedef enum {
    /* No supervision: help, version and completion scripts, UNET_CKPT_UNSUPERVISED, a failed
       fork, or this code linked into something other than the unet-ckpt executable. */
    UNET_CKPT_DIRECT = 0,
    /* The supervised child, which runs the command. */
    UNET_CKPT_SUPERVISED_CHILD = 1,
    /* The parent, after its child ended by a signal or was stopped at the time limit. */
    UNET_CKPT_SUPERVISOR = 2,
} unet_ckpt_role;

typedef struct {
    unet_ckpt_role role;
    /* In the supervisor: the signal that ended the child (SIGKILL after the time limit). */
    int child_signal;
    /* In the supervisor: whether it stopped the child at the time limit. */
    int timed_out;
    /* Seconds the command may run; 0 for no limit. */
    double time_limit;
} unet_ckpt_supervision_state;

/* What the constructor decided and, in the supervisor, how the child ended. */
const unet_ckpt_supervision_state *unet_ckpt_supervision(void);

#endif

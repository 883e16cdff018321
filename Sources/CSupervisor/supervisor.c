/* The early fork of unet-ckpt's supervision (include/unet_supervisor.h). */
#define _GNU_SOURCE
#include "unet_supervisor.h"

#include <errno.h>
#include <link.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unet_ckpt_supervision_state state;

const unet_ckpt_supervision_state *unet_ckpt_supervision(void) { return &state; }

/* SwiftPM links an executable target's code into the tests that depend on it: a test runner
   (`….xctest`) must not be forked. */
static int is_test_runner(void) {
    char path[4096];
    ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    if (length < 0) return 0;
    path[length] = '\0';
    return length >= 7 && strcmp(path + length - 7, ".xctest") == 0;
}

/* Whether the arguments only ask for the command line's own text: help (`--help`, `-h`, `help`,
   also of a subcommand), `--version`, a completion script or the manual's dump
   (`--experimental-dump-help`). Those read no file and need no supervision. After "--" every
   argument is a file name. */
static int asks_only_for_text(int argc, char **argv) {
    int options = 1;
    while (options < argc && strcmp(argv[options], "--") != 0) options++;
    if (options == 1 || strcmp(argv[1], "help") == 0) return 1;
    static const char *const text_options[] = {
        "--help", "-h", "--version", "--experimental-dump-help", "--generate-completion-script",
    };
    for (int i = 1; i < options; i++) {
        for (size_t k = 0; k < sizeof text_options / sizeof *text_options; k++)
            if (strcmp(argv[i], text_options[k]) == 0) return 1;
        if (strncmp(argv[i], "--generate-completion-script=", 29) == 0) return 1;
    }
    return 0;
}

/* 600 s for inspect, verify, diff, convert and draw (minutes more than the largest checkpoints
   need), none for predict (tiling a large image takes what it takes); UNET_CKPT_TIMEOUT, a
   number of seconds, overrides it (0 or less: no limit). */
static double time_limit(int argc, char **argv) {
    const char *text = getenv("UNET_CKPT_TIMEOUT");
    if (text != NULL && *text != '\0') {
        char *end;
        double value = strtod(text, &end);
        if (*end == '\0') return value > 0 ? value : 0;
    }
    return argc > 1 && strcmp(argv[1], "predict") == 0 ? 0 : 600;
}

/* Set in the environment of a re-executed child (see runtime_is_shared). */
static const char child_marker[] = "UNET_CKPT_SUPERVISED";

static int names_swift_runtime(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    return info->dlpi_name != NULL && strstr(info->dlpi_name, "libswiftCore.so") != NULL;
}

/* Whether the Swift runtime is a shared library (debug builds), whose constructors ran before
   this one. Its locks cache each thread's id on first use (`ulock_get_tid`), and a forked child
   keeps the parent's: the first contended lock then spins for ever (seen in CI: two threads in
   `once_slow`). Such a child re-executes itself at once. With the runtime linked statically
   (release builds, `make build`), no Swift code has run before this constructor and the fork
   runs on. */
static int runtime_is_shared(void) { return dl_iterate_phdr(names_swift_runtime, NULL) != 0; }

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + 1e-9 * (double)(now.tv_nsec - start->tv_nsec);
}

/* Waits for the child, passing on the signals of `waited` other than SIGCHLD, and kills it at
   the limit. Returns its wait status. */
static int wait_for_child(pid_t child, double limit, const sigset_t *waited) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int status;
        pid_t ended = waitpid(child, &status, WNOHANG);
        if (ended == child) return status;
        if (ended < 0 && errno != EINTR) return W_EXITCODE(2, 0); /* cannot happen: SIGCHLD is not ignored */
        int signal;
        if (limit > 0) {
            double left = limit - seconds_since(&start);
            if (left <= 0) {
                kill(child, SIGKILL);
                while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
                state.timed_out = 1;
                return status;
            }
            struct timespec timeout = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
            signal = sigtimedwait(waited, NULL, &timeout);
        } else {
            signal = sigwaitinfo(waited, NULL);
        }
        /* SIGCHLD, a timeout or an interruption: look again. An interrupt or a termination
           request reaches the child, which ends as the user asked. */
        if (signal > 0 && signal != SIGCHLD) kill(child, signal);
    }
}

__attribute__((constructor(101))) static void unet_ckpt_supervise_early(int argc, char **argv, char **envp) {
    (void)envp;
    state.role = UNET_CKPT_DIRECT;
    if (getenv(child_marker) != NULL) {
        state.role = UNET_CKPT_SUPERVISED_CHILD;
        return;
    }
    if (argc < 1 || getenv("UNET_CKPT_UNSUPERVISED") != NULL
        || asks_only_for_text(argc, argv) || is_test_runner())
        return;
    state.time_limit = time_limit(argc, argv);

    /* Until the parent waits for them, the signals it passes on are blocked; SIGCHLD must not be
       ignored (an inherited SIG_IGN would reap the child before waitpid sees it). */
    sigset_t waited, original;
    sigemptyset(&waited);
    sigaddset(&waited, SIGINT);
    sigaddset(&waited, SIGTERM);
    sigaddset(&waited, SIGHUP);
    sigaddset(&waited, SIGCHLD);
    sigprocmask(SIG_BLOCK, &waited, &original);
    struct sigaction child_action, original_child_action;
    memset(&child_action, 0, sizeof child_action);
    child_action.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &child_action, &original_child_action);
    pid_t parent = getpid();

    pid_t child = fork();
    if (child <= 0) {
        /* The child (or, if fork failed, this process unsupervised) runs the command with the
           signal state it was given, except that interrupts and termination requests reach it
           (a parent process may have left them blocked: test runners do). */
        sigaction(SIGCHLD, &original_child_action, NULL);
        sigset_t mask = original;
        sigdelset(&mask, SIGINT);
        sigdelset(&mask, SIGTERM);
        sigdelset(&mask, SIGHUP);
        sigprocmask(SIG_SETMASK, child == 0 ? &mask : &original, NULL);
        if (child == 0) {
            state.role = UNET_CKPT_SUPERVISED_CHILD;
            /* A supervisor killed outright takes its command with it. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(128 + SIGKILL);
            if (runtime_is_shared()) {
                setenv(child_marker, "1", 1);
                execv("/proc/self/exe", argv);
                static const char message[] = "error: unet-ckpt: cannot start the supervised command\n";
                (void)!write(STDERR_FILENO, message, sizeof message - 1);
                _exit(2);
            }
            /* Otherwise the environment stays as it is: the Swift runtime finds argv next to it. */
        }
        return;
    }

    int status = wait_for_child(child, state.time_limit, &waited);
    if (WIFEXITED(status) && !state.timed_out) _exit(WEXITSTATUS(status));
    /* Ended by a signal or stopped at the limit: main reports it and removes the child's
       temporary files. */
    state.role = UNET_CKPT_SUPERVISOR;
    state.child_signal = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    sigaction(SIGCHLD, &original_child_action, NULL);
    sigprocmask(SIG_SETMASK, &original, NULL);
}

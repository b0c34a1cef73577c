//! The first process of every pod sandbox (`localhost/skiff/pause:1`): it
//! holds the pod's namespaces, reaps children that end up under it, and
//! exits 0 on SIGTERM or SIGINT. As PID 1 of its namespace, signals it has
//! no handler for never reach it: hence the explicit handlers.

extern "C" fn on_stop(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(0) };
}

extern "C" fn on_child(_: libc::c_int) {
    // SAFETY: waitpid is async-signal-safe; reaps every exited child.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

fn handle(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: a zeroed sigaction with a plain handler; SA_RESTART so that no
    // call is interrupted.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
            eprintln!(
                "skiff-pause: sigaction({signal}): {}",
                std::io::Error::last_os_error()
            );
            std::process::exit(1);
        }
    }
}

fn main() {
    if std::env::args().len() > 1 {
        eprintln!("usage: skiff-pause (no arguments: it waits for SIGTERM)");
        std::process::exit(2);
    }
    handle(libc::SIGTERM, on_stop);
    handle(libc::SIGINT, on_stop);
    handle(libc::SIGCHLD, on_child);
    loop {
        // SAFETY: no arguments; returns after each handled signal.
        unsafe { libc::pause() };
    }
}

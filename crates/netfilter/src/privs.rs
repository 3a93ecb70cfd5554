//! Least privilege: once its sockets are open, the daemon keeps only CAP_NET_ADMIN (needed to
//! send verdicts), optionally as another user.

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid, User, setgid, setgroups, setuid};

/// Drops every capability but CAP_NET_ADMIN (from the bounding set too, where the process may
/// change it), switches to `user` if given, and forbids gaining privileges again.
pub fn keep_only_net_admin(user: Option<&str>) -> Result<(), String> {
    keep_only(&[Capability::CAP_NET_ADMIN], user)
}

/// Drops every capability but `keep` (from the bounding set too, where the process may change
/// it), switches to `user` if given, and forbids gaining privileges again.
pub fn keep_only(keep: &[Capability], user: Option<&str>) -> Result<(), String> {
    let keep: CapsHashSet = keep.iter().copied().collect();
    let e = |what: &str, err: &dyn std::fmt::Display| format!("dropping privileges: {what}: {err}");
    let user = match user {
        Some(name) => Some(
            User::from_name(name)
                .map_err(|err| e("looking up the user", &err))?
                .ok_or_else(|| e("looking up the user", &format!("no user {name:?}")))?,
        ),
        None => None,
    };
    let have =
        caps::read(None, CapSet::Effective).map_err(|err| e("reading capabilities", &err))?;
    if have.contains(&Capability::CAP_SETPCAP) {
        for c in caps::all() {
            if !keep.contains(&c) {
                caps::drop(None, CapSet::Bounding, c).map_err(|err| e("bounding set", &err))?;
            }
        }
    }
    if let Some(u) = &user {
        nix::sys::prctl::set_keepcaps(true).map_err(|err| e("keeping capabilities", &err))?;
        setgroups(&[]).map_err(|err| e("setgroups", &err))?;
        setgid(Gid::from_raw(u.gid.as_raw())).map_err(|err| e("setgid", &err))?;
        setuid(Uid::from_raw(u.uid.as_raw())).map_err(|err| e("setuid", &err))?;
    }
    // Effective first: the kernel refuses a permitted set narrower than the effective one.
    caps::set(None, CapSet::Effective, &keep).map_err(|err| e("effective set", &err))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(|err| e("permitted set", &err))?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new())
        .map_err(|err| e("inheritable set", &err))?;
    nix::sys::prctl::set_no_new_privs().map_err(|err| e("no_new_privs", &err))?;
    Ok(())
}

/// The capabilities in effect now (for logs and tests).
pub fn effective() -> Vec<String> {
    let mut v: Vec<String> = caps::read(None, CapSet::Effective)
        .map(|s| s.into_iter().map(|c| c.to_string()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

//! `process.scheduler`: the scheduling policy and its parameters, set with sched_setattr.

use oci_spec::runtime::{LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler};

pub fn plan(s: &Scheduler) -> Result<libc::sched_attr, String> {
    let mut a = crate::sys::sched_attr();
    a.sched_policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => return Err("policy: SCHED_ISO is not in Linux".into()),
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    for f in s.flags().iter().flatten() {
        a.sched_flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    a.sched_nice = s.nice().unwrap_or(0);
    a.sched_priority = u32::try_from(s.priority().unwrap_or(0))
        .map_err(|_| "priority: must not be negative".to_string())?;
    a.sched_runtime = s.runtime().unwrap_or(0);
    a.sched_deadline = s.deadline().unwrap_or(0);
    a.sched_period = s.period().unwrap_or(0);
    Ok(a)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fifo_with_priority() {
        let s: oci_spec::runtime::Scheduler = serde_json::from_value(serde_json::json!(
            {"policy": "SCHED_FIFO", "priority": 10, "flags": ["SCHED_RESET_ON_FORK"]}
        ))
        .unwrap();
        let a = super::plan(&s).unwrap();
        assert_eq!(
            (a.sched_policy, a.sched_priority, a.sched_flags),
            (1, 10, 1)
        );
    }
}

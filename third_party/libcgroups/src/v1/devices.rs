use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use super::controller::Controller;
use crate::common::{ControllerOpt, WrappedIoError, default_allow_devices, default_devices};

pub struct Devices {}

impl Controller for Devices {
    type Error = WrappedIoError;
    type Resource = ();

    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error> {
        tracing::debug!("Apply Devices cgroup config");

        // hull: devices.allow and devices.deny are opened once each for all the rules (each
        // write is one rule to the kernel), not once per rule: 13 opens per create before.
        let mut files = RuleFiles::new(cgroup_root);
        if let Some(devices) = controller_opt.resources.devices().as_ref() {
            for d in devices {
                files.write(d)?;
            }
        }

        for d in [
            default_devices().iter().map(|d| d.into()).collect(),
            default_allow_devices(),
        ]
        .concat()
        {
            files.write(&d)?;
        }

        Ok(())
    }

    // always needs to be called due to default devices
    fn needs_to_handle<'a>(_controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource> {
        Some(&())
    }
}

/// hull: devices.allow and devices.deny of one cgroup, each opened at its first rule and kept.
struct RuleFiles<'a> {
    root: &'a Path,
    allow: Option<std::fs::File>,
    deny: Option<std::fs::File>,
}

impl<'a> RuleFiles<'a> {
    fn new(root: &'a Path) -> Self {
        RuleFiles { root, allow: None, deny: None }
    }

    fn write(&mut self, device: &LinuxDeviceCgroup) -> Result<(), WrappedIoError> {
        use std::io::Write;
        let (slot, name) = match device.allow() {
            true => (&mut self.allow, "devices.allow"),
            false => (&mut self.deny, "devices.deny"),
        };
        let file = match slot {
            Some(f) => f,
            None => {
                let path = self.root.join(name);
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|err| WrappedIoError::Open { err, path })?;
                slot.insert(f)
            }
        };
        let rule = device.to_string();
        file.write_all(rule.as_bytes()).map_err(|err| WrappedIoError::Write {
            err,
            path: self.root.join(name),
            data: rule,
        })
    }
}

impl Devices {
    #[cfg(test)]
    fn apply_device(device: &LinuxDeviceCgroup, cgroup_root: &Path) -> Result<(), WrappedIoError> {
        RuleFiles::new(cgroup_root).write(device)
    }
}

#[cfg(test)]
mod tests {
    use std::fs::read_to_string;

    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    use super::*;
    use crate::test::set_fixture;

    #[test]
    fn test_set_default_devices() {
        let tmp = tempfile::tempdir().unwrap();

        default_allow_devices().iter().for_each(|d| {
            // NOTE: We reset the fixtures every iteration because files aren't appended
            // so what happens in the tests is you get strange overwrites which can contain
            // remaining bytes from the last iteration. Resetting the files more appropriately
            // mocks the behavior of cgroup files.
            set_fixture(tmp.path(), "devices.allow", "").expect("create allowed devices list");
            set_fixture(tmp.path(), "devices.deny", "").expect("create denied devices list");

            Devices::apply_device(d, tmp.path()).expect("Apply default device");
            println!("Device: {}", d);
            if d.allow() {
                let allowed_content =
                    read_to_string(tmp.path().join("devices.allow")).expect("read to string");
                assert_eq!(allowed_content, d.to_string());
            } else {
                let denied_content =
                    read_to_string(tmp.path().join("devices.deny")).expect("read to string");
                assert_eq!(denied_content, d.to_string());
            }
        });
    }

    #[test]
    fn test_set_mock_devices() {
        let tmp = tempfile::tempdir().unwrap();
        [
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(10)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::A)
                .minor(200)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .typ(LinuxDeviceType::P)
                .major(10)
                .minor(200)
                .access("m")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .typ(LinuxDeviceType::U)
                .access("rw")
                .build()
                .unwrap(),
        ]
        .iter()
        .for_each(|d| {
            set_fixture(tmp.path(), "devices.allow", "").expect("create allowed devices list");
            set_fixture(tmp.path(), "devices.deny", "").expect("create denied devices list");

            Devices::apply_device(d, tmp.path()).expect("Apply default device");
            println!("Device: {}", d);
            if d.allow() {
                let allowed_content =
                    read_to_string(tmp.path().join("devices.allow")).expect("read to string");
                assert_eq!(allowed_content, d.to_string());
            } else {
                let denied_content =
                    read_to_string(tmp.path().join("devices.deny")).expect("read to string");
                assert_eq!(denied_content, d.to_string());
            }
        });
    }

    #[test]
    fn test_apply_writes_every_rule_in_order_through_one_file_each() {
        // hull: RuleFiles keeps each file open; with regular files as fixtures, successive
        // writes land one after the other, so the files hold every rule in order.
        let tmp = tempfile::tempdir().unwrap();
        set_fixture(tmp.path(), "devices.allow", "").expect("create allowed devices list");
        set_fixture(tmp.path(), "devices.deny", "").expect("create denied devices list");
        let deny_all = LinuxDeviceCgroupBuilder::default().allow(false).access("rwm").build().unwrap();
        let resources = oci_spec::runtime::LinuxResourcesBuilder::default()
            .devices(vec![deny_all.clone()])
            .build()
            .unwrap();
        let opt = ControllerOpt {
            resources: &resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        };
        Devices::apply(&opt, tmp.path()).expect("apply");
        let allowed: Vec<LinuxDeviceCgroup> = [
            default_devices().iter().map(|d| d.into()).collect::<Vec<LinuxDeviceCgroup>>(),
            default_allow_devices(),
        ]
        .concat();
        let want: String = allowed.iter().map(|d| d.to_string()).collect();
        assert_eq!(read_to_string(tmp.path().join("devices.allow")).unwrap(), want);
        assert_eq!(read_to_string(tmp.path().join("devices.deny")).unwrap(), deny_all.to_string());
    }

    quickcheck! {
        fn property_test_apply_device(device: LinuxDeviceCgroup) -> bool {
            let tmp = tempfile::tempdir().unwrap();
            set_fixture(tmp.path(), "devices.allow", "").expect("create allowed devices list");
            set_fixture(tmp.path(), "devices.deny", "").expect("create denied devices list");
            Devices::apply_device(&device, tmp.path()).expect("Apply default device");
            if device.allow() {
                let allowed_content =
                    read_to_string(tmp.path().join("devices.allow")).expect("read to string");
                allowed_content == device.to_string()
            } else {
                let denied_content =
                    read_to_string(tmp.path().join("devices.deny")).expect("read to string");
                denied_content == device.to_string()
            }
        }

        fn property_test_apply_multiple_devices(devices: Vec<LinuxDeviceCgroup>) -> bool {
            let tmp = tempfile::tempdir().unwrap();
            devices.iter()
                .all(|device| {
                    set_fixture(tmp.path(), "devices.allow", "").expect("create allowed devices list");
                    set_fixture(tmp.path(), "devices.deny", "").expect("create denied devices list");
                    Devices::apply_device(device, tmp.path()).expect("Apply default device");
                    if device.allow() {
                        let allowed_content =
                            read_to_string(tmp.path().join("devices.allow")).expect("read to string");
                        allowed_content == device.to_string()
                    } else {
                        let denied_content =
                            read_to_string(tmp.path().join("devices.deny")).expect("read to string");
                        denied_content == device.to_string()
                    }
                })
        }
    }
}

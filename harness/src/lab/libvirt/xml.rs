//! libvirt XML and guest seeds, rendered from the templates in vm-templates/libvirt (minijinja,
//! XML-escaped) and the node's settings. Pure: no libvirt, no files.

use minijinja::{context, Environment};
use serde::Serialize;

const NETWORK: &str = include_str!("../../../../vm-templates/libvirt/network.xml");
const DOMAIN: &str = include_str!("../../../../vm-templates/libvirt/domain.xml");
const DATA_DISK: &str = include_str!("../../../../vm-templates/libvirt/data-disk.xml");
const KVM_PROBE: &str = include_str!("../../../../vm-templates/libvirt/kvm-probe.xml");

/// Escapes a value for XML text and single- or double-quoted attributes.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    // Every value is escaped for XML (minijinja's own escaping is HTML's, which also
    // rewrites `/` in paths).
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_formatter(|out, _state, value| {
        let text = if value.is_undefined() || value.is_none() {
            String::new()
        } else {
            value.to_string()
        };
        out.write_str(&xml_escape(&text))
            .map_err(minijinja::Error::from)
    });
    for (name, text) in [
        ("network.xml", NETWORK),
        ("domain.xml", DOMAIN),
        ("data-disk.xml", DATA_DISK),
        ("kvm-probe.xml", KVM_PROBE),
    ] {
        env.add_template(name, text)
            .expect("the embedded templates parse (tested)");
    }
    env
}

fn render(name: &str, ctx: minijinja::Value) -> String {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .expect("the embedded templates render with their context (tested)")
}

/// The lab network.
#[derive(Clone, Debug, Serialize)]
pub struct Net {
    /// libvirt name.
    pub name: String,
    /// Bridge device (≤ 15 characters).
    pub bridge: String,
    /// The bridge's MAC.
    pub mac: String,
    /// The host's address on it.
    pub host_address: String,
    /// Prefix length.
    pub prefix: u8,
}

/// The OSD's disk.
#[derive(Clone, Debug, Serialize)]
pub struct DataDisk {
    /// qcow2 file.
    pub path: String,
    /// `total_iops_sec`, 0 for none.
    pub iops: u64,
    /// `total_bytes_sec`, 0 for none.
    pub bytes: u64,
}

/// One node's domain.
#[derive(Clone, Debug, Serialize)]
pub struct Dom {
    /// libvirt name.
    pub name: String,
    /// `kvm` or `qemu`.
    pub accel: String,
    /// MiB.
    pub memory: u32,
    /// vCPUs.
    pub vcpus: u32,
    /// Direct boot: kernel, initrd and command line (None: the disk boots itself).
    pub kernel: Option<String>,
    /// Initrd for direct boot.
    pub initrd: Option<String>,
    /// Kernel command line for direct boot.
    pub cmdline: Option<String>,
    /// qcow2 system disk.
    pub system_disk: String,
    /// The OSD's disk.
    pub data: DataDisk,
    /// The seed disk (raw, read-only).
    pub seed_disk: String,
    /// The lab network's name.
    pub network: String,
    /// The NIC's MAC.
    pub mac: String,
    /// The tap device (≤ 15 characters).
    pub tap: String,
    /// Serial console log.
    pub console: String,
    /// QEMU runs as this user and group.
    pub uid: u32,
    /// Group of QEMU.
    pub gid: u32,
}

/// The network's XML.
pub fn network(net: &Net) -> String {
    render("network.xml", minijinja::Value::from_serialize(net))
}

/// The domain's XML.
pub fn domain(dom: &Dom) -> String {
    render("domain.xml", minijinja::Value::from_serialize(dom))
}

/// The `<disk>` element of the OSD's disk (for detach and attach).
pub fn data_disk(data: &DataDisk) -> String {
    render("data-disk.xml", context! { data => data })
}

/// The `<interface>` element with a link state, for a live update (libvirt matches the MAC;
/// the model must be given, or libvirt assumes another and refuses).
pub fn interface(dom: &Dom, up: bool) -> String {
    format!(
        "<interface type='network'><source network='{}'/><mac address='{}'/>\
         <model type='virtio'/><link state='{}'/></interface>",
        dom.network,
        dom.mac,
        if up { "up" } else { "down" }
    )
}

/// The KVM probe domain.
pub fn kvm_probe(name: &str, kernel: &str, uid: u32, gid: u32) -> String {
    render(
        "kvm-probe.xml",
        context! { name => name, kernel => kernel, uid => uid, gid => gid },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom() -> Dom {
        Dom {
            name: "hadrill-t-node-1".into(),
            accel: "qemu".into(),
            memory: 1536,
            vcpus: 1,
            kernel: Some("/k".into()),
            initrd: Some("/i".into()),
            cmdline: Some("root=/dev/vda rw".into()),
            system_disk: "/s.qcow2".into(),
            data: DataDisk {
                path: "/d.qcow2".into(),
                iops: 80,
                bytes: 0,
            },
            seed_disk: "/seed.img".into(),
            network: "hadrill-t".into(),
            mac: "52:54:00:01:02:03".into(),
            tap: "hdabcn1".into(),
            console: "/c<&>.log".into(),
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn domain_has_every_device_and_escapes_values() {
        let x = domain(&dom());
        assert!(x.starts_with("<domain type='qemu'>"), "{x}");
        assert!(x.contains("<kernel>/k</kernel>"));
        assert!(x.contains("<target dev='vdb' bus='virtio'/>"));
        assert!(x.contains("<total_iops_sec>80</total_iops_sec>"));
        assert!(!x.contains("total_bytes_sec"));
        assert!(x.contains("<readonly/>"));
        assert!(x.contains("/c&lt;&amp;&gt;.log"), "escaped: {x}");
        assert!(x.contains("<label>+0:+0</label>"));
        let mut cloud = dom();
        cloud.kernel = None;
        assert!(domain(&cloud).contains("<boot dev='hd'/>"));
    }

    #[test]
    fn network_is_isolated() {
        let x = network(&Net {
            name: "hadrill-t".into(),
            bridge: "hdabcbr".into(),
            mac: "52:54:00:00:00:01".into(),
            host_address: "10.77.9.1".into(),
            prefix: 24,
        });
        assert!(!x.contains("<forward"), "no route out: {x}");
        assert!(x.contains("<ip address='10.77.9.1' prefix='24'/>"));
        assert!(x.contains("<dns enable='no'/>"));
    }

    #[test]
    fn link_state_update_names_the_model() {
        let x = interface(&dom(), false);
        assert!(x.contains("<model type='virtio'/>") && x.contains("<link state='down'/>"));
    }
}

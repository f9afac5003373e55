//! The schema registry: one set of attribute definitions (RFC 7643 §7, §8.7) that drives
//! input validation, case handling, filter typing, projection and the `/Schemas` document.
//!
//! Invariant: nothing else in the crate hard-codes an attribute's type, mutability or
//! `returned` rule; it asks the registry.

/// SCIM attribute data types (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, PartialEq, Eq)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttrDef],
    pub description: &'static str,
}

impl AttrDef {
    /// Finds a sub-attribute by name, case-insensitively (RFC 7643 §2.1).
    pub fn sub(&self, name: &str) -> Option<&'static AttrDef> {
        find_attr(self.sub_attributes, name)
    }

    pub fn is_complex(&self) -> bool {
        self.ty == AttrType::Complex
    }
}

/// Case-insensitive lookup of an attribute in a list of definitions.
pub fn find_attr(attrs: &'static [AttrDef], name: &str) -> Option<&'static AttrDef> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// A schema: a URN and its attributes.
#[derive(Debug, PartialEq, Eq)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

impl SchemaDef {
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        find_attr(self.attributes, name)
    }
}

/// A resource type (RFC 7643 §6): endpoint, core schema and extensions.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceTypeDef {
    pub id: &'static str,
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static SchemaDef,
    /// Extension schemas and whether each is required.
    pub extensions: &'static [(&'static SchemaDef, bool)],
}

impl ResourceTypeDef {
    /// Finds an extension schema by URN, case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions
            .iter()
            .map(|(s, _)| *s)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Finds a top-level attribute of the core schema or a common attribute.
    pub fn core_attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.schema
            .attr(name)
            .or_else(|| find_attr(COMMON_ATTRS, name))
    }

    /// All schemas of this type, core first.
    pub fn schemas(&self) -> impl Iterator<Item = &'static SchemaDef> + '_ {
        std::iter::once(self.schema).chain(self.extensions.iter().map(|(s, _)| *s))
    }

    /// Resolves a schema URN (core or extension), case-insensitively.
    pub fn schema_by_urn(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.schemas().find(|s| s.id.eq_ignore_ascii_case(urn))
    }
}

/// The kinds of resource this service stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    User,
    Group,
}

impl ResourceKind {
    pub fn def(self) -> &'static ResourceTypeDef {
        match self {
            ResourceKind::User => &USER_RESOURCE_TYPE,
            ResourceKind::Group => &GROUP_RESOURCE_TYPE,
        }
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    pub fn endpoint(self) -> &'static str {
        self.def().endpoint
    }
}

/// Anything described by a resource type of the registry: the stored resources
/// ([`ResourceKind`]) and the per-tenant catalog ([`CatalogKind`]). Projection and
/// discovery read the definition through it.
pub trait Described: Copy {
    fn def(self) -> &'static ResourceTypeDef;
}

impl Described for ResourceKind {
    fn def(self) -> &'static ResourceTypeDef {
        ResourceKind::def(self)
    }
}

/// The per-tenant catalog a product defines for Okta Identity Governance: the entitlements
/// and roles a user may be assigned (Okta's *Build a SCIM 2.0 server with entitlements*).
/// Read-only over SCIM (`/Entitlements`, `/Roles`); a user's `entitlements` and `roles`
/// values are their ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogKind {
    Entitlement,
    Role,
}

impl CatalogKind {
    pub const ALL: [CatalogKind; 2] = [CatalogKind::Entitlement, CatalogKind::Role];

    pub fn def(self) -> &'static ResourceTypeDef {
        match self {
            CatalogKind::Entitlement => &ENTITLEMENT_RESOURCE_TYPE,
            CatalogKind::Role => &ROLE_RESOURCE_TYPE,
        }
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// The multi-valued User attribute that holds assignments of this kind.
    pub fn user_attribute(self) -> &'static str {
        match self {
            CatalogKind::Entitlement => "entitlements",
            CatalogKind::Role => "roles",
        }
    }

    /// The lower-case plural the application API and `scim-admin` name the kind by.
    pub fn plural(self) -> &'static str {
        match self {
            CatalogKind::Entitlement => "entitlements",
            CatalogKind::Role => "roles",
        }
    }
}

impl Described for CatalogKind {
    fn def(self) -> &'static ResourceTypeDef {
        CatalogKind::def(self)
    }
}

pub const USER_SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const CONTACT_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:contact:2.0:User";
pub const ENTITLEMENT_SCHEMA_URN: &str = "urn:okta:scim:schemas:core:1.0:Entitlement";
pub const ROLE_SCHEMA_URN: &str = "urn:okta:scim:schemas:core:1.0:Role";
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const SERVICE_PROVIDER_CONFIG_URN: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

// ----------------------------------------------------------------------------------------
// Definition helpers. `const fn` builders keep the tables below short and uniform.

const fn attr(name: &'static str, ty: AttrType) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
        description: "",
    }
}

const fn s(name: &'static str, description: &'static str) -> AttrDef {
    let mut a = attr(name, AttrType::String);
    a.description = description;
    a
}

const fn b(name: &'static str, description: &'static str) -> AttrDef {
    let mut a = attr(name, AttrType::Boolean);
    a.description = description;
    a
}

const fn r(
    name: &'static str,
    reference_types: &'static [&'static str],
    description: &'static str,
) -> AttrDef {
    let mut a = attr(name, AttrType::Reference);
    a.reference_types = reference_types;
    a.description = description;
    a
}

const fn complex(
    name: &'static str,
    subs: &'static [AttrDef],
    description: &'static str,
) -> AttrDef {
    let mut a = attr(name, AttrType::Complex);
    a.sub_attributes = subs;
    a.description = description;
    a
}

const fn multi(mut a: AttrDef) -> AttrDef {
    a.multi_valued = true;
    a
}

const fn required(mut a: AttrDef) -> AttrDef {
    a.required = true;
    a
}

const fn exact(mut a: AttrDef) -> AttrDef {
    a.case_exact = true;
    a
}

const fn read_only(mut a: AttrDef) -> AttrDef {
    a.mutability = Mutability::ReadOnly;
    a
}

const fn immutable(mut a: AttrDef) -> AttrDef {
    a.mutability = Mutability::Immutable;
    a
}

const fn returned(mut a: AttrDef, r: Returned) -> AttrDef {
    a.returned = r;
    a
}

const fn unique(mut a: AttrDef, u: Uniqueness) -> AttrDef {
    a.uniqueness = u;
    a
}

const fn canonical(mut a: AttrDef, values: &'static [&'static str]) -> AttrDef {
    a.canonical_values = values;
    a
}

const fn write_only(mut a: AttrDef) -> AttrDef {
    a.mutability = Mutability::WriteOnly;
    a
}

// ----------------------------------------------------------------------------------------
// Common attributes (RFC 7643 §3.1): part of every resource, not of any schema document.

const META_SUBS: &[AttrDef] = &[
    read_only(exact(s(
        "resourceType",
        "The name of the resource type of the resource.",
    ))),
    read_only(attr("created", AttrType::DateTime)),
    read_only(attr("lastModified", AttrType::DateTime)),
    read_only(exact(r("location", &["uri"], "The URI of the resource."))),
    read_only(exact(s("version", "The version (ETag) of the resource."))),
];

pub static COMMON_ATTRS: &[AttrDef] = &[
    returned(
        read_only(exact(unique(
            s(
                "id",
                "Unique identifier for the resource, assigned by the service provider.",
            ),
            Uniqueness::Server,
        ))),
        Returned::Always,
    ),
    exact(s(
        "externalId",
        "An identifier for the resource as defined by the provisioning client.",
    )),
    read_only(complex("meta", META_SUBS, "Resource metadata.")),
];

// ----------------------------------------------------------------------------------------
// User (RFC 7643 §4.1, §8.7.1)

const TYPE_WORK_HOME_OTHER: &[&str] = &["work", "home", "other"];

const fn primary() -> AttrDef {
    b(
        "primary",
        "Indicates the 'primary' or preferred attribute value for this attribute.",
    )
}

const NAME_SUBS: &[AttrDef] = &[
    s("formatted", "The full name, formatted for display."),
    s("familyName", "The family name of the User."),
    s("givenName", "The given name of the User."),
    s("middleName", "The middle name(s) of the User."),
    s("honorificPrefix", "The honorific prefix(es) of the User."),
    s("honorificSuffix", "The honorific suffix(es) of the User."),
];

const EMAIL_SUBS: &[AttrDef] = &[
    s("value", "Email address for the User."),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    canonical(
        s("type", "A label indicating the attribute's function."),
        TYPE_WORK_HOME_OTHER,
    ),
    primary(),
];

const PHONE_SUBS: &[AttrDef] = &[
    s("value", "Phone number of the User."),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    canonical(
        s("type", "A label indicating the attribute's function."),
        &["work", "home", "mobile", "fax", "pager", "other"],
    ),
    primary(),
];

const IMS_SUBS: &[AttrDef] = &[
    s("value", "Instant messaging address for the User."),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    canonical(
        s("type", "A label indicating the attribute's function."),
        &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
    ),
    primary(),
];

const PHOTO_SUBS: &[AttrDef] = &[
    r("value", &["external"], "URL of a photo of the User."),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    canonical(
        s("type", "A label indicating the attribute's function."),
        &["photo", "thumbnail"],
    ),
    primary(),
];

const ADDRESS_SUBS: &[AttrDef] = &[
    s(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    s("streetAddress", "The full street address component."),
    s("locality", "The city or locality component."),
    s("region", "The state or region component."),
    s("postalCode", "The zip code or postal code component."),
    s("country", "The country name component."),
    canonical(
        s("type", "A label indicating the attribute's function."),
        TYPE_WORK_HOME_OTHER,
    ),
    primary(),
];

const USER_GROUP_SUBS: &[AttrDef] = &[
    read_only(s("value", "The identifier of the User's group.")),
    read_only(r(
        "$ref",
        &["User", "Group"],
        "The URI of the corresponding Group.",
    )),
    read_only(s("display", "A human-readable name of the group.")),
    read_only(canonical(
        s("type", "A label indicating the attribute's function."),
        &["direct", "indirect"],
    )),
];

const VALUE_DISPLAY_TYPE_PRIMARY: &[AttrDef] = &[
    s("value", "The value of the attribute."),
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    s("type", "A label indicating the attribute's function."),
    primary(),
];

const CERT_SUBS: &[AttrDef] = &[
    {
        let mut a = attr("value", AttrType::Binary);
        a.description = "The value of an X.509 certificate.";
        a
    },
    s(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    s("type", "A label indicating the attribute's function."),
    primary(),
];

pub static USER_ATTRS: &[AttrDef] = &[
    required(unique(
        s(
            "userName",
            "Unique identifier for the User, typically used by the user to directly authenticate.",
        ),
        Uniqueness::Server,
    )),
    complex("name", NAME_SUBS, "The components of the user's real name."),
    s(
        "displayName",
        "The name of the User, suitable for display to end-users.",
    ),
    s(
        "nickName",
        "The casual way to address the user in real life.",
    ),
    r(
        "profileUrl",
        &["external"],
        "A fully qualified URL pointing to a page representing the User's online profile.",
    ),
    s("title", "The user's title, such as \"Vice President\"."),
    s(
        "userType",
        "Used to identify the relationship between the organization and the user.",
    ),
    s(
        "preferredLanguage",
        "Indicates the User's preferred written or spoken language.",
    ),
    s(
        "locale",
        "Used to indicate the User's default location for purposes of localizing items.",
    ),
    s(
        "timezone",
        "The User's time zone in the 'Olson' time zone database format.",
    ),
    b(
        "active",
        "A Boolean value indicating the User's administrative status.",
    ),
    returned(
        write_only(exact(s("password", "The User's cleartext password."))),
        Returned::Never,
    ),
    multi(complex(
        "emails",
        EMAIL_SUBS,
        "Email addresses for the user.",
    )),
    multi(complex(
        "phoneNumbers",
        PHONE_SUBS,
        "Phone numbers for the User.",
    )),
    multi(complex(
        "ims",
        IMS_SUBS,
        "Instant messaging addresses for the User.",
    )),
    multi(complex("photos", PHOTO_SUBS, "URLs of photos of the User.")),
    multi(complex(
        "addresses",
        ADDRESS_SUBS,
        "A physical mailing address for this User.",
    )),
    read_only(multi(complex(
        "groups",
        USER_GROUP_SUBS,
        "A list of groups to which the user belongs.",
    ))),
    multi(complex(
        "entitlements",
        VALUE_DISPLAY_TYPE_PRIMARY,
        "A list of entitlements for the User.",
    )),
    multi(complex(
        "roles",
        VALUE_DISPLAY_TYPE_PRIMARY,
        "A list of roles for the User.",
    )),
    multi(complex(
        "x509Certificates",
        CERT_SUBS,
        "A list of certificates issued to the User.",
    )),
];

pub static USER_SCHEMA: SchemaDef = SchemaDef {
    id: USER_SCHEMA_URN,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRS,
};

// ----------------------------------------------------------------------------------------
// Enterprise User extension (RFC 7643 §4.3)

const MANAGER_SUBS: &[AttrDef] = &[
    s(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    ),
    r(
        "$ref",
        &["User"],
        "The URI of the SCIM resource representing the User's manager.",
    ),
    read_only(s("displayName", "The displayName of the User's manager.")),
];

pub static ENTERPRISE_ATTRS: &[AttrDef] = &[
    s(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    s("costCenter", "Identifies the name of a cost center."),
    s("organization", "Identifies the name of an organization."),
    s("division", "Identifies the name of a division."),
    s("department", "Identifies the name of a department."),
    complex("manager", MANAGER_SUBS, "The User's manager."),
];

pub static ENTERPRISE_SCHEMA: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_URN,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRS,
};

// ----------------------------------------------------------------------------------------
// Contact extension: the lifecycle of a contact (guest) in the host product.

pub static CONTACT_ATTRS: &[AttrDef] = &[
    {
        let mut a = attr("endDate", AttrType::DateTime);
        a.description = "When the contact's access ends; after it the contact is deactivated.";
        a
    },
    {
        let mut a = attr("startDate", AttrType::DateTime);
        a.description = "When the contact's access starts.";
        a
    },
    s("company", "The organisation the contact belongs to."),
];

pub static CONTACT_SCHEMA: SchemaDef = SchemaDef {
    id: CONTACT_USER_URN,
    name: "ContactUser",
    description: "Contact lifecycle (end date) of a user",
    attributes: CONTACT_ATTRS,
};

// ----------------------------------------------------------------------------------------
// Group (RFC 7643 §4.2)

const MEMBER_SUBS: &[AttrDef] = &[
    immutable(exact(s("value", "Identifier of the member of this Group."))),
    immutable(r("$ref", &["User", "Group"], "The URI of the member.")),
    immutable(s("display", "A human-readable name of the member.")),
    immutable(canonical(
        s("type", "A label indicating the type of resource."),
        &["User", "Group"],
    )),
];

pub static GROUP_ATTRS: &[AttrDef] = &[
    required(s("displayName", "A human-readable name for the Group.")),
    multi(complex(
        "members",
        MEMBER_SUBS,
        "A list of members of the Group.",
    )),
];

pub static GROUP_SCHEMA: SchemaDef = SchemaDef {
    id: GROUP_SCHEMA_URN,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRS,
};

// ----------------------------------------------------------------------------------------

pub static USER_RESOURCE_TYPE: ResourceTypeDef = ResourceTypeDef {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER_SCHEMA,
    extensions: &[(&ENTERPRISE_SCHEMA, false), (&CONTACT_SCHEMA, false)],
};

pub static GROUP_RESOURCE_TYPE: ResourceTypeDef = ResourceTypeDef {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP_SCHEMA,
    extensions: &[],
};

// ----------------------------------------------------------------------------------------
// Okta Identity Governance: entitlements and roles (Okta's "Build a SCIM 2.0 server with
// entitlements": `id`, `displayName`, `type`, and a description). Read-only over SCIM: the
// product defines them through the application API or `scim-admin`.

const CATALOG_ATTRS: &[AttrDef] = &[
    read_only(required(s(
        "displayName",
        "The name shown for the value in Okta's Governance tab.",
    ))),
    read_only(s(
        "type",
        "The category of the value (for example License or Profile).",
    )),
    read_only(s("description", "What the value grants.")),
];

pub static ENTITLEMENT_SCHEMA: SchemaDef = SchemaDef {
    id: ENTITLEMENT_SCHEMA_URN,
    name: "Entitlement",
    description: "An entitlement a user may be assigned",
    attributes: CATALOG_ATTRS,
};

pub static ROLE_SCHEMA: SchemaDef = SchemaDef {
    id: ROLE_SCHEMA_URN,
    name: "Role",
    description: "A role a user may be assigned",
    attributes: CATALOG_ATTRS,
};

pub static ENTITLEMENT_RESOURCE_TYPE: ResourceTypeDef = ResourceTypeDef {
    id: "Entitlement",
    name: "Entitlement",
    endpoint: "/Entitlements",
    description: "Entitlements a user may be assigned (the tenant's catalog)",
    schema: &ENTITLEMENT_SCHEMA,
    extensions: &[],
};

pub static ROLE_RESOURCE_TYPE: ResourceTypeDef = ResourceTypeDef {
    id: "Role",
    name: "Role",
    endpoint: "/Roles",
    description: "Roles a user may be assigned (the tenant's catalog)",
    schema: &ROLE_SCHEMA,
    extensions: &[],
};

/// Every resource type, for `/ResourceTypes`.
pub static ALL_RESOURCE_TYPES: &[&ResourceTypeDef] = &[
    &USER_RESOURCE_TYPE,
    &GROUP_RESOURCE_TYPE,
    &ENTITLEMENT_RESOURCE_TYPE,
    &ROLE_RESOURCE_TYPE,
];

/// Every schema the service knows, for `/Schemas`.
pub static ALL_SCHEMAS: &[&SchemaDef] = &[
    &USER_SCHEMA,
    &GROUP_SCHEMA,
    &ENTERPRISE_SCHEMA,
    &CONTACT_SCHEMA,
    &ENTITLEMENT_SCHEMA,
    &ROLE_SCHEMA,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_lookup_is_case_insensitive() {
        let rt = ResourceKind::User.def();
        assert_eq!(rt.core_attr("USERNAME").map(|a| a.name), Some("userName"));
        assert_eq!(
            rt.core_attr("externalid").map(|a| a.name),
            Some("externalId")
        );
        let emails = rt.core_attr("Emails");
        assert_eq!(
            emails.and_then(|e| e.sub("VALUE")).map(|a| a.name),
            Some("value")
        );
        assert!(rt
            .extension("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER")
            .is_some());
    }

    #[test]
    fn user_name_is_required_unique_and_case_insensitive() {
        let a = USER_SCHEMA.attr("userName");
        assert!(
            matches!(a, Some(a) if a.required && !a.case_exact && a.uniqueness == Uniqueness::Server)
        );
    }

    #[test]
    fn password_is_write_only_and_never_returned() {
        let a = USER_SCHEMA.attr("password");
        assert!(
            matches!(a, Some(a) if a.returned == Returned::Never && a.mutability == Mutability::WriteOnly)
        );
    }

    #[test]
    fn id_and_external_id_are_case_exact() {
        assert!(find_attr(COMMON_ATTRS, "id").is_some_and(|a| a.case_exact));
        assert!(find_attr(COMMON_ATTRS, "externalId").is_some_and(|a| a.case_exact));
    }
}

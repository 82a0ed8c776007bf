//! Windows time zone names (as Outlook / Exchange write them in TZID) mapped to IANA
//! zones, after the CLDR `windowsZones.xml` territory "001" entries.

use chrono_tz::Tz;

static WINDOWS_ZONES: &[(&str, Tz)] = &[
    ("Dateline Standard Time", Tz::Etc__GMTPlus12),
    ("UTC-11", Tz::Etc__GMTPlus11),
    ("Aleutian Standard Time", Tz::America__Adak),
    ("Hawaiian Standard Time", Tz::Pacific__Honolulu),
    ("Alaskan Standard Time", Tz::America__Anchorage),
    ("Pacific Standard Time (Mexico)", Tz::America__Tijuana),
    ("Pacific Standard Time", Tz::America__Los_Angeles),
    ("US Mountain Standard Time", Tz::America__Phoenix),
    ("Mountain Standard Time (Mexico)", Tz::America__Mazatlan),
    ("Mountain Standard Time", Tz::America__Denver),
    ("Central America Standard Time", Tz::America__Guatemala),
    ("Central Standard Time (Mexico)", Tz::America__Mexico_City),
    ("Central Standard Time", Tz::America__Chicago),
    ("Canada Central Standard Time", Tz::America__Regina),
    ("SA Pacific Standard Time", Tz::America__Bogota),
    ("Eastern Standard Time (Mexico)", Tz::America__Cancun),
    ("Eastern Standard Time", Tz::America__New_York),
    (
        "US Eastern Standard Time",
        Tz::America__Indiana__Indianapolis,
    ),
    ("Venezuela Standard Time", Tz::America__Caracas),
    ("Atlantic Standard Time", Tz::America__Halifax),
    ("SA Western Standard Time", Tz::America__La_Paz),
    ("Pacific SA Standard Time", Tz::America__Santiago),
    ("Newfoundland Standard Time", Tz::America__St_Johns),
    ("E. South America Standard Time", Tz::America__Sao_Paulo),
    (
        "Argentina Standard Time",
        Tz::America__Argentina__Buenos_Aires,
    ),
    ("SA Eastern Standard Time", Tz::America__Cayenne),
    ("Greenland Standard Time", Tz::America__Godthab),
    ("UTC-02", Tz::Etc__GMTPlus2),
    ("Azores Standard Time", Tz::Atlantic__Azores),
    ("Cape Verde Standard Time", Tz::Atlantic__Cape_Verde),
    ("UTC", Tz::Etc__UTC),
    ("Coordinated Universal Time", Tz::Etc__UTC),
    ("GMT Standard Time", Tz::Europe__London),
    ("Greenwich Standard Time", Tz::Atlantic__Reykjavik),
    ("Morocco Standard Time", Tz::Africa__Casablanca),
    ("W. Europe Standard Time", Tz::Europe__Berlin),
    ("Central Europe Standard Time", Tz::Europe__Budapest),
    ("Romance Standard Time", Tz::Europe__Paris),
    ("Central European Standard Time", Tz::Europe__Warsaw),
    ("W. Central Africa Standard Time", Tz::Africa__Lagos),
    ("Jordan Standard Time", Tz::Asia__Amman),
    ("GTB Standard Time", Tz::Europe__Bucharest),
    ("Middle East Standard Time", Tz::Asia__Beirut),
    ("Egypt Standard Time", Tz::Africa__Cairo),
    ("E. Europe Standard Time", Tz::Europe__Chisinau),
    ("South Africa Standard Time", Tz::Africa__Johannesburg),
    ("FLE Standard Time", Tz::Europe__Kiev),
    ("Israel Standard Time", Tz::Asia__Jerusalem),
    ("Kaliningrad Standard Time", Tz::Europe__Kaliningrad),
    ("Arabic Standard Time", Tz::Asia__Baghdad),
    ("Turkey Standard Time", Tz::Europe__Istanbul),
    ("Arab Standard Time", Tz::Asia__Riyadh),
    ("Belarus Standard Time", Tz::Europe__Minsk),
    ("Russian Standard Time", Tz::Europe__Moscow),
    ("E. Africa Standard Time", Tz::Africa__Nairobi),
    ("Iran Standard Time", Tz::Asia__Tehran),
    ("Arabian Standard Time", Tz::Asia__Dubai),
    ("Azerbaijan Standard Time", Tz::Asia__Baku),
    ("Georgian Standard Time", Tz::Asia__Tbilisi),
    ("Caucasus Standard Time", Tz::Asia__Yerevan),
    ("Afghanistan Standard Time", Tz::Asia__Kabul),
    ("West Asia Standard Time", Tz::Asia__Tashkent),
    ("Ekaterinburg Standard Time", Tz::Asia__Yekaterinburg),
    ("Pakistan Standard Time", Tz::Asia__Karachi),
    ("India Standard Time", Tz::Asia__Kolkata),
    ("Sri Lanka Standard Time", Tz::Asia__Colombo),
    ("Nepal Standard Time", Tz::Asia__Kathmandu),
    ("Central Asia Standard Time", Tz::Asia__Almaty),
    ("Bangladesh Standard Time", Tz::Asia__Dhaka),
    ("Myanmar Standard Time", Tz::Asia__Yangon),
    ("SE Asia Standard Time", Tz::Asia__Bangkok),
    ("N. Central Asia Standard Time", Tz::Asia__Novosibirsk),
    ("North Asia Standard Time", Tz::Asia__Krasnoyarsk),
    ("China Standard Time", Tz::Asia__Shanghai),
    ("North Asia East Standard Time", Tz::Asia__Irkutsk),
    ("Singapore Standard Time", Tz::Asia__Singapore),
    ("W. Australia Standard Time", Tz::Australia__Perth),
    ("Taipei Standard Time", Tz::Asia__Taipei),
    ("Ulaanbaatar Standard Time", Tz::Asia__Ulaanbaatar),
    ("Tokyo Standard Time", Tz::Asia__Tokyo),
    ("Korea Standard Time", Tz::Asia__Seoul),
    ("Yakutsk Standard Time", Tz::Asia__Yakutsk),
    ("Cen. Australia Standard Time", Tz::Australia__Adelaide),
    ("AUS Central Standard Time", Tz::Australia__Darwin),
    ("E. Australia Standard Time", Tz::Australia__Brisbane),
    ("AUS Eastern Standard Time", Tz::Australia__Sydney),
    ("West Pacific Standard Time", Tz::Pacific__Port_Moresby),
    ("Tasmania Standard Time", Tz::Australia__Hobart),
    ("Vladivostok Standard Time", Tz::Asia__Vladivostok),
    ("New Zealand Standard Time", Tz::Pacific__Auckland),
    ("Fiji Standard Time", Tz::Pacific__Fiji),
    ("Tonga Standard Time", Tz::Pacific__Tongatapu),
    ("Samoa Standard Time", Tz::Pacific__Apia),
    ("Line Islands Standard Time", Tz::Pacific__Kiritimati),
];

/// The IANA zone for a Windows zone name, compared case-insensitively.
pub(crate) fn windows_to_iana(name: &str) -> Option<Tz> {
    let name = name.trim();
    WINDOWS_ZONES
        .iter()
        .find(|(win, _)| win.eq_ignore_ascii_case(name))
        .map(|(_, tz)| *tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_outlook_names_map_to_iana_zones() {
        assert_eq!(
            windows_to_iana("W. Europe Standard Time"),
            Some(Tz::Europe__Berlin)
        );
        assert_eq!(
            windows_to_iana("eastern standard time"),
            Some(Tz::America__New_York)
        );
        assert_eq!(
            windows_to_iana("Pacific Standard Time"),
            Some(Tz::America__Los_Angeles)
        );
        assert_eq!(windows_to_iana("Nowhere Standard Time"), None);
        assert!(WINDOWS_ZONES.len() >= 40);
    }
}

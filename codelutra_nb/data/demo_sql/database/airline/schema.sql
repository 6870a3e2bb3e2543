-- airline: a Nordic regional airline's airports, fleet, flights, passengers and bookings.
PRAGMA foreign_keys = ON;

CREATE TABLE airport (
    apt_code TEXT PRIMARY KEY,
    apt_name TEXT NOT NULL,
    city TEXT NOT NULL,
    ctry TEXT NOT NULL,
    elev_ft INTEGER
);

CREATE TABLE aircraft (
    ac_id INTEGER PRIMARY KEY,
    tail_no TEXT NOT NULL,
    ac_model TEXT NOT NULL,
    seat_cap INTEGER NOT NULL,
    yr_built INTEGER
);

CREATE TABLE flight (
    flt_id INTEGER PRIMARY KEY,
    flt_no TEXT NOT NULL,
    dep_apt TEXT NOT NULL,
    arr_apt TEXT NOT NULL,
    ac_id INTEGER NOT NULL,
    dep_dt DATE NOT NULL,
    dist_km INTEGER NOT NULL,
    flt_status TEXT NOT NULL,
    FOREIGN KEY (dep_apt) REFERENCES airport (apt_code),
    FOREIGN KEY (arr_apt) REFERENCES airport (apt_code),
    FOREIGN KEY (ac_id) REFERENCES aircraft (ac_id)
);

CREATE TABLE pax (
    pax_id INTEGER PRIMARY KEY,
    first_nm TEXT NOT NULL,
    last_nm TEXT NOT NULL,
    nat TEXT,
    ffp_tier TEXT
);

CREATE TABLE bkg (
    bkg_id INTEGER PRIMARY KEY,
    pax_id INTEGER NOT NULL,
    flt_id INTEGER NOT NULL,
    seat_no TEXT,
    cabin_cls TEXT NOT NULL,
    fare_amt REAL NOT NULL,
    bkg_dt DATE NOT NULL,
    FOREIGN KEY (pax_id) REFERENCES pax (pax_id),
    FOREIGN KEY (flt_id) REFERENCES flight (flt_id)
);

INSERT INTO airport VALUES ('OSL', 'Oslo Gardermoen', 'Oslo', 'Norway', 681);
INSERT INTO airport VALUES ('BGO', 'Bergen Flesland', 'Bergen', 'Norway', 170);
INSERT INTO airport VALUES ('TRD', 'Trondheim Vaernes', 'Trondheim', 'Norway', 56);
INSERT INTO airport VALUES ('TOS', 'Tromso Langnes', 'Tromso', 'Norway', 31);
INSERT INTO airport VALUES ('CPH', 'Copenhagen Kastrup', 'Copenhagen', 'Denmark', 17);
INSERT INTO airport VALUES ('AAL', 'Aalborg Airport', 'Aalborg', 'Denmark', 10);
INSERT INTO airport VALUES ('BLL', 'Billund Airport', 'Billund', 'Denmark', 247);
INSERT INTO airport VALUES ('ARN', 'Stockholm Arlanda', 'Stockholm', 'Sweden', 137);
INSERT INTO airport VALUES ('GOT', 'Gothenburg Landvetter', 'Gothenburg', 'Sweden', 506);
INSERT INTO airport VALUES ('HEL', 'Helsinki Vantaa', 'Helsinki', 'Finland', 179);
INSERT INTO airport VALUES ('KEF', 'Keflavik International', 'Reykjavik', 'Iceland', 171);

INSERT INTO aircraft VALUES (1, 'LN-NBA', 'ATR 72-600', 70, 2014);
INSERT INTO aircraft VALUES (2, 'LN-NBB', 'ATR 72-600', 70, 2016);
INSERT INTO aircraft VALUES (3, 'LN-NBC', 'Dash 8-400', 78, 2011);
INSERT INTO aircraft VALUES (4, 'LN-NBD', 'Embraer E190', 100, 2018);
INSERT INTO aircraft VALUES (5, 'LN-NBE', 'Embraer E190', 100, 2019);
INSERT INTO aircraft VALUES (6, 'LN-NBF', 'Airbus A220-300', 140, 2021);
INSERT INTO aircraft VALUES (7, 'LN-NBG', 'Boeing 737-800', 186, 2009);
INSERT INTO aircraft VALUES (8, 'LN-NBH', 'Dash 8-400', 78, NULL);
INSERT INTO aircraft VALUES (9, 'LN-NBI', 'Airbus A220-300', 140, 2023);

INSERT INTO flight VALUES (1, 'NB101', 'OSL', 'BGO', 1, '2024-06-03', 305, 'landed');
INSERT INTO flight VALUES (2, 'NB102', 'BGO', 'OSL', 1, '2024-06-03', 305, 'landed');
INSERT INTO flight VALUES (3, 'NB210', 'OSL', 'CPH', 4, '2024-06-03', 483, 'landed');
INSERT INTO flight VALUES (4, 'NB211', 'CPH', 'OSL', 4, '2024-06-03', 483, 'delayed');
INSERT INTO flight VALUES (5, 'NB520', 'OSL', 'KEF', 7, '2024-06-03', 1750, 'landed');
INSERT INTO flight VALUES (6, 'NB330', 'OSL', 'ARN', 3, '2024-06-04', 385, 'landed');
INSERT INTO flight VALUES (7, 'NB331', 'ARN', 'OSL', 3, '2024-06-04', 385, 'delayed');
INSERT INTO flight VALUES (8, 'NB415', 'CPH', 'HEL', 5, '2024-06-04', 885, 'landed');
INSERT INTO flight VALUES (9, 'NB521', 'KEF', 'OSL', 7, '2024-06-04', 1750, 'landed');
INSERT INTO flight VALUES (10, 'NB640', 'BGO', 'TRD', 2, '2024-06-04', 427, 'cancelled');
INSERT INTO flight VALUES (11, 'NB101', 'OSL', 'BGO', 1, '2024-06-05', 305, 'landed');
INSERT INTO flight VALUES (12, 'NB102', 'BGO', 'OSL', 1, '2024-06-05', 305, 'delayed');
INSERT INTO flight VALUES (13, 'NB710', 'TRD', 'TOS', 8, '2024-06-05', 705, 'landed');
INSERT INTO flight VALUES (14, 'NB812', 'GOT', 'CPH', 2, '2024-06-05', 230, 'landed');
INSERT INTO flight VALUES (15, 'NB418', 'HEL', 'ARN', 5, '2024-06-05', 400, 'landed');
INSERT INTO flight VALUES (16, 'NB210', 'OSL', 'CPH', 6, '2024-06-06', 483, 'landed');
INSERT INTO flight VALUES (17, 'NB211', 'CPH', 'OSL', 6, '2024-06-06', 483, 'landed');
INSERT INTO flight VALUES (18, 'NB905', 'AAL', 'CPH', 2, '2024-06-06', 240, 'cancelled');
INSERT INTO flight VALUES (19, 'NB520', 'OSL', 'KEF', 7, '2024-06-06', 1750, 'delayed');
INSERT INTO flight VALUES (20, 'NB330', 'OSL', 'ARN', 4, '2024-06-07', 385, 'landed');
INSERT INTO flight VALUES (21, 'NB331', 'ARN', 'OSL', 4, '2024-06-07', 385, 'landed');
INSERT INTO flight VALUES (22, 'NB640', 'BGO', 'TRD', 3, '2024-06-07', 427, 'landed');
INSERT INTO flight VALUES (23, 'NB710', 'TRD', 'TOS', 8, '2024-06-07', 705, 'delayed');
INSERT INTO flight VALUES (24, 'NB415', 'CPH', 'HEL', 5, '2024-06-08', 885, 'scheduled');
INSERT INTO flight VALUES (25, 'NB812', 'GOT', 'CPH', 2, '2024-06-08', 230, 'scheduled');
INSERT INTO flight VALUES (26, 'NB101', 'OSL', 'BGO', 1, '2024-06-08', 305, 'scheduled');
INSERT INTO flight VALUES (27, 'NB521', 'KEF', 'OSL', 7, '2024-06-08', 1750, 'scheduled');
INSERT INTO flight VALUES (28, 'NB905', 'AAL', 'CPH', 3, '2024-06-09', 240, 'scheduled');
INSERT INTO flight VALUES (29, 'NB418', 'HEL', 'ARN', 6, '2024-06-09', 400, 'scheduled');
INSERT INTO flight VALUES (30, 'NB210', 'OSL', 'CPH', 6, '2024-06-09', 483, 'scheduled');

INSERT INTO pax VALUES (1, 'Ingrid', 'Solberg', 'Norway', 'Gold');
INSERT INTO pax VALUES (2, 'Lars', 'Eriksen', 'Norway', 'Silver');
INSERT INTO pax VALUES (3, 'Mette', 'Jensen', 'Denmark', NULL);
INSERT INTO pax VALUES (4, 'Anders', 'Nilsson', 'Sweden', 'Platinum');
INSERT INTO pax VALUES (5, 'Aino', 'Virtanen', 'Finland', 'Silver');
INSERT INTO pax VALUES (6, 'Jon', 'Sigurdsson', 'Iceland', NULL);
INSERT INTO pax VALUES (7, 'Sofie', 'Hansen', 'Denmark', 'Gold');
INSERT INTO pax VALUES (8, 'Erik', 'Berg', 'Norway', NULL);
INSERT INTO pax VALUES (9, 'Emma', 'Lindberg', 'Sweden', 'Silver');
INSERT INTO pax VALUES (10, 'Mikael', 'Korhonen', 'Finland', NULL);
INSERT INTO pax VALUES (11, 'Karin', 'Dahl', 'Norway', 'Platinum');
INSERT INTO pax VALUES (12, 'Oliver', 'Smith', 'United Kingdom', NULL);
INSERT INTO pax VALUES (13, 'Freya', 'Olsen', 'Denmark', 'Silver');
INSERT INTO pax VALUES (14, 'Noah', 'Andersson', 'Sweden', NULL);
INSERT INTO pax VALUES (15, 'Helga', 'Bjornsdottir', 'Iceland', 'Gold');
INSERT INTO pax VALUES (16, 'Marco', 'Ricci', 'Italy', NULL);
INSERT INTO pax VALUES (17, 'Julia', 'Weber', 'Germany', 'Silver');
INSERT INTO pax VALUES (18, 'Sanna', 'Lahti', 'Finland', 'Gold');
INSERT INTO pax VALUES (19, 'Henrik', 'Moe', 'Norway', NULL);
INSERT INTO pax VALUES (20, 'Chloe', 'Martin', 'France', NULL);

INSERT INTO bkg VALUES (1, 1, 1, '3A', 'Economy', 89.0, '2024-05-10');
INSERT INTO bkg VALUES (2, 2, 1, '7C', 'Economy', 79.0, '2024-05-20');
INSERT INTO bkg VALUES (3, 8, 1, '12F', 'Economy', 99.0, '2024-06-01');
INSERT INTO bkg VALUES (4, 1, 2, '3A', 'Economy', 92.0, '2024-05-10');
INSERT INTO bkg VALUES (5, 4, 3, '1A', 'Business', 410.0, '2024-04-28');
INSERT INTO bkg VALUES (6, 3, 3, '14D', 'Economy', 135.0, '2024-05-15');
INSERT INTO bkg VALUES (7, 7, 4, '2C', 'Business', 395.0, '2024-05-02');
INSERT INTO bkg VALUES (8, 12, 5, '21B', 'Economy', 289.0, '2024-05-05');
INSERT INTO bkg VALUES (9, 6, 5, '5A', 'Business', 720.0, '2024-04-20');
INSERT INTO bkg VALUES (10, 9, 6, '9D', 'Economy', 118.0, '2024-05-22');
INSERT INTO bkg VALUES (11, 4, 7, '1A', 'Business', 380.0, '2024-04-28');
INSERT INTO bkg VALUES (12, 5, 8, '4F', 'Economy', 210.0, '2024-05-12');
INSERT INTO bkg VALUES (13, 18, 8, '1C', 'Business', 540.0, '2024-05-01');
INSERT INTO bkg VALUES (14, 15, 9, '2A', 'Business', 735.0, '2024-04-25');
INSERT INTO bkg VALUES (15, 6, 9, '18C', 'Economy', 265.0, '2024-05-30');
INSERT INTO bkg VALUES (16, 19, 10, '8B', 'Economy', 105.0, '2024-05-27');
INSERT INTO bkg VALUES (17, 2, 11, '6A', 'Economy', 84.0, '2024-05-29');
INSERT INTO bkg VALUES (18, 11, 11, '1D', 'Business', 260.0, '2024-05-14');
INSERT INTO bkg VALUES (19, 11, 12, '1D', 'Business', 255.0, '2024-05-14');
INSERT INTO bkg VALUES (20, 8, 12, '15A', 'Economy', 97.0, '2024-06-01');
INSERT INTO bkg VALUES (21, 19, 13, '10C', 'Economy', 176.0, '2024-05-18');
INSERT INTO bkg VALUES (22, 13, 14, '7E', 'Economy', 72.0, '2024-05-25');
INSERT INTO bkg VALUES (23, 10, 15, '11B', 'Economy', 121.0, '2024-05-19');
INSERT INTO bkg VALUES (24, 17, 16, '2A', 'Business', 420.0, '2024-05-08');
INSERT INTO bkg VALUES (25, 7, 17, '9C', 'Economy', 142.0, '2024-05-21');
INSERT INTO bkg VALUES (26, 3, 18, '4D', 'Economy', 68.0, '2024-06-02');
INSERT INTO bkg VALUES (27, 12, 19, '22A', 'Economy', 301.0, '2024-05-09');
INSERT INTO bkg VALUES (28, 1, 19, '1A', 'Business', 760.0, '2024-05-11');
INSERT INTO bkg VALUES (29, 14, 20, '13F', 'Economy', 109.0, '2024-05-26');
INSERT INTO bkg VALUES (30, 4, 21, '1A', 'Business', 372.0, '2024-05-26');
INSERT INTO bkg VALUES (31, 11, 22, '2B', 'Business', 298.0, '2024-05-31');
INSERT INTO bkg VALUES (32, 8, 23, '6C', 'Economy', 181.0, '2024-06-03');
INSERT INTO bkg VALUES (33, 18, 24, '3D', 'Economy', 228.0, '2024-06-01');
INSERT INTO bkg VALUES (34, 5, 24, '1A', 'Business', 555.0, '2024-05-28');
INSERT INTO bkg VALUES (35, 13, 25, '8A', 'Economy', 75.0, '2024-06-04');
INSERT INTO bkg VALUES (36, 16, 26, NULL, 'Economy', 112.0, '2024-06-05');
INSERT INTO bkg VALUES (37, 15, 27, '19D', 'Economy', 279.0, '2024-06-02');
INSERT INTO bkg VALUES (38, 3, 28, '5C', 'Economy', 71.0, '2024-06-06');
INSERT INTO bkg VALUES (39, 10, 29, '2F', 'Business', 365.0, '2024-06-03');
INSERT INTO bkg VALUES (40, 9, 30, NULL, 'Economy', 129.0, '2024-06-06');
